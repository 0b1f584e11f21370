"""Search in the browser: by instrument and by class name, facets that combine, and tags
added on the image page found again; another lab's private image never shows."""

from catalog.models import Image, Visibility
from labeling.models import LabelClass, LabelSchema
from tests.e2e.conftest import make_dataset, sign_in
from tests.factories import DatasetFactory, ReadyImageFactory


def result_names(page) -> list[str]:
    page.get_by_test_id("search-results").and_(page.locator(":not([aria-busy])")).wait_for(
        state="attached"
    )
    return sorted(page.get_by_test_id("search-result-name").all_inner_texts())


def facet_counts(page, name) -> dict[str, int]:
    out = {}
    for option in page.get_by_test_id(f"facet-{name}-option").all():
        value = option.locator("input").get_attribute("data-value")
        out[value] = int(option.get_by_test_id("facet-count").inner_text())
    return out


def test_search_finds_images_by_instrument_and_class_name(
    page, lab_owner, other_lab_owner, tmp_path
):
    d = make_dataset(lab_owner, tmp_path, title="STO/Ge interfaces", size=256)
    Image.objects.filter(pk=d["image"].pk).update(
        instrument={"microscope": "Titan Themis", "voltage_kv": 300.0, "magnification": 490000}
    )
    other = DatasetFactory(lab=d["lab"], created_by=lab_owner, title="Pt particles")
    ReadyImageFactory(
        dataset=other, original_filename="pt_01.tif", instrument={"microscope": "JEM-2100F"}
    )
    # another lab's dataset, visible to its members only: same microscope, same class name
    secret = DatasetFactory(
        lab=other_lab_owner.memberships.get().lab,
        created_by=other_lab_owner,
        title="Secret",
        visibility=Visibility.LAB,
    )
    ReadyImageFactory(
        dataset=secret, original_filename="secret.tif", instrument={"microscope": "Titan Themis"}
    )
    schema = LabelSchema.objects.create(
        dataset=secret, name="s", is_default=True, created_by=other_lab_owner
    )
    LabelClass.objects.create(schema=schema, name="STO", colour="#000000")

    sign_in(page, lab_owner.username)
    page.get_by_test_id("nav-search").click()
    assert result_names(page) == ["crowd.tif", "pt_01.tif"]
    assert facet_counts(page, "instrument") == {"Titan Themis": 1, "JEM-2100F": 1}

    # by instrument, typed
    page.get_by_test_id("search-q").fill("Titan")
    page.get_by_test_id("search-submit").click()
    page.wait_for_url("**/#/search?q=Titan")
    assert result_names(page) == ["crowd.tif"]
    assert page.get_by_test_id("search-summary").inner_text() == "1 image"
    assert (
        "Titan Themis · 300 kV · 490,000×"
        in page.get_by_test_id("search-result-facts").inner_text()
    )
    page.shot("by-instrument")

    # a range of the instrument's facts, under "More filters"
    page.get_by_test_id("search-q").fill("")
    page.get_by_test_id("search-more").locator("summary").click()
    page.get_by_test_id("search-voltage-min").fill("250")
    page.get_by_test_id("search-submit").click()
    page.wait_for_url("**/#/search?voltage_min=250")
    assert result_names(page) == ["crowd.tif"]  # pt_01.tif has no voltage
    page.shot("voltage-range")
    page.get_by_test_id("search-voltage-min").fill("")

    # by class name, typed, then as a facet
    page.get_by_test_id("search-q").fill("STO")
    page.get_by_test_id("search-submit").click()
    page.wait_for_url("**/#/search?q=STO")
    assert result_names(page) == ["crowd.tif"]
    assert facet_counts(page, "class_name") == {"Ge": 1, "STO": 1, "vacuum": 1}
    page.get_by_test_id("search-q").fill("")
    page.get_by_test_id("search-submit").click()
    page.wait_for_url("**/#/search")
    page.get_by_test_id("facet-class_name-option").filter(has_text="Ge").locator("input").check()
    page.wait_for_url("**/#/search?class_name=Ge")
    assert result_names(page) == ["crowd.tif"]
    # facets combine: the class facet and the instrument facet
    assert facet_counts(page, "instrument") == {"Titan Themis": 1}  # within class Ge
    page.get_by_test_id("facet-instrument-option").filter(has_text="Titan Themis").locator(
        "input"
    ).check()
    page.wait_for_url("**/#/search?class_name=Ge&instrument=Titan+Themis")
    assert result_names(page) == ["crowd.tif"]
    page.shot("facets-combined")
    # … an instrument without that class: nothing, and the chosen values stay on offer
    page.evaluate("location.hash = '#/search?class_name=Ge&instrument=JEM-2100F'")
    page.get_by_test_id("search-summary").filter(has_text="No image matches").wait_for()
    assert result_names(page) == []
    assert facet_counts(page, "instrument") == {"Titan Themis": 1, "JEM-2100F": 0}
    page.get_by_test_id("facet-instrument-option").filter(has_text="JEM-2100F").locator(
        "input"
    ).uncheck()
    page.wait_for_url("**/#/search?class_name=Ge")
    assert result_names(page) == ["crowd.tif"]

    # tags added on the image page are found and offered as a facet
    page.get_by_test_id("search-result").click()
    page.get_by_test_id("image-name").filter(has_text="crowd.tif").wait_for()
    panel = page.get_by_test_id("image-annotations")
    panel.get_by_test_id("annotations-edit").click()
    panel.get_by_test_id("annotation-tags-input").fill("beam damage, interface")
    panel.get_by_test_id("annotation-add-pair").click()
    panel.get_by_test_id("annotation-key").fill("sample")
    panel.get_by_test_id("annotation-value").fill("wafer 7")
    panel.get_by_test_id("annotations-save").click()
    panel.get_by_test_id("annotation-pairs").wait_for()
    assert panel.get_by_test_id("annotation-tag").all_inner_texts() == ["beam damage", "interface"]
    assert "wafer 7" in panel.get_by_test_id("annotation-pairs").inner_text()
    panel.scroll_into_view_if_needed()
    page.shot("annotations")
    panel.get_by_test_id("annotation-tag").filter(has_text="beam damage").click()
    page.wait_for_url("**/#/search?tag=beam%20damage")
    assert result_names(page) == ["crowd.tif"]
    assert facet_counts(page, "tag") == {"beam damage": 1, "interface": 1}
    page.get_by_test_id("search-q").fill("wafer")
    page.get_by_test_id("search-submit").click()
    assert result_names(page) == ["crowd.tif"]
    page.shot("by-tag-and-words")
    assert "secret.tif" not in page.get_by_test_id("search-page").inner_text()
    assert page.errors == []
