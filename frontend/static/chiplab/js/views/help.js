// Help: what chip size, support sets, consensus, confidence and the interval mean, in a
// microscopist's words. Kept true to the code, docs/benchmarks.md and the README's Known
// limitations (figures from there); #/help/<topic> scrolls to one section.
import { h } from "../ui.js";

const TOPICS = [
  ["chip-size", "Chip size"],
  ["support-sets", "Support sets"],
  ["consensus", "Consensus"],
  ["confidence", "Confidence"],
  ["interval", "The interval"],
  ["results", "Results and history"],
  ["limits", "When not to trust it"],
];

const section = (id, title, ...body) =>
  h(
    "section",
    { id: `help-${id}`, testid: `help-${id}`, "aria-labelledby": `help-${id}-title` },
    h("h2", { id: `help-${id}-title` }, title),
    ...body,
  );
const p = (...parts) => h("p", {}, ...parts);

export function render(root, { topic } = {}) {
  const page = h(
    "article",
    { class: "page help-page", testid: "help-page" },
    h("h1", {}, "How Chiplab reads your micrograph"),
    p(
      "Chiplab cuts the image into square ",
      h("strong", {}, "chips"),
      ", you show it a few example chips of each ",
      "phase or feature (the ",
      h("strong", {}, "support set"),
      "), and it labels every other chip by how much it ",
      "looks like your examples. From the chip labels it draws a map at full pixel resolution and measures area ",
      "fractions, counts and sizes, each with an uncertainty. A result is computed from your examples and the ",
      "image alone (the model itself is not retrained for it), and re-running it gives the same answer.",
    ),
    h(
      "nav",
      { class: "card help-toc", "aria-label": "Topics" },
      TOPICS.map(([id, title]) => h("a", { href: `#/help/${id}`, testid: `help-link-${id}` }, title)),
    ),

    section(
      "chip-size",
      "Chip size",
      p(
        "The chip is the unit Chiplab decides about: each chip gets one class. Think of it as the smallest patch ",
        "of specimen that you could name by eye. Each chip is read together with half a chip of context around it.",
      ),
      h(
        "ul",
        {},
        h(
          "li",
          {},
          h("strong", {}, "Lattices and textures: "),
          "a chip should hold a few repeats of the pattern ",
          "(several lattice periods), or one chip cannot tell two phases apart. The Grid step marks a suggestion on ",
          "the slider, measured from the image's own periodicity; on a texture (irregular grains) three of its ",
          "grains and at least 32 px.",
        ),
        h(
          "li",
          {},
          h("strong", {}, "Particles: "),
          "about the size of a typical particle or a little smaller. ",
          "The pixel map then draws the outlines; particles are measured from it, not from the chips. ",
          "Tick “objects” on the particles' classes: they are then counted and sized, the map tells them apart by ",
          "brightness (their material), and their outlines follow the image: a pixel at a particle's edge belongs to it ",
          "where its brightness is at least half-way from the surroundings' to the particles' (a quarter to stay). ",
          "A class not marked is also told by its texture, and the chips a quarter chip ",
          "around each of its examples count as examples too, which suits grains and phases. ",
          "Two kinds of particle (round and rod-shaped, domes and plates): mark both classes as objects, and ",
          "Segment offers “One kind per particle”, which gives each particle one kind from its shape and ",
          "brightness profile; pick examples that span each kind's range of sizes and brightness.",
        ),
        h(
          "li",
          {},
          h("strong", {}, "Smaller chips "),
          "follow boundaries more closely but see less of the pattern; ",
          h("strong", {}, "larger chips "),
          "are steadier but blur thin layers and small grains.",
        ),
      ),
      p(
        "Rows and columns that do not fill a whole chip at the right and bottom edges (or before the offset) are left ",
        "out and reported as margins. Changing the chip size keeps your example clicks: each new chip takes the class ",
        "of the examples that cover most of it, and going back to the old size restores your clicks exactly.",
      ),
      p(
        "Every result also segments the same clicks at half and at double the chip size and says how far each ",
        "fraction moves. If it moves more than the interval, the chip size matters for your question: say which one ",
        "you used, or pick the one whose map you agree with.",
      ),
    ),

    section(
      "support-sets",
      "Support sets",
      p(
        "A support set is your examples: for each class (vacuum, substrate, particle, grain 2…) a handful of chips ",
        "you clicked as typical of it. Two to ten per class are enough; three give clearly better maps and more honest ",
        "uncertainties than one (see below), and five map particles and textures clearly better than three (on our ",
        "held-out test images, chip mIoU +0.05 on each). Choose examples that span the variation within a class: thick and thin, ",
        "bright and dim, different orientations. Avoid chips that straddle a boundary.",
      ),
      p(
        "Each class's examples are averaged into one fingerprint (a prototype); every chip is compared with all ",
        "fingerprints. After a result, Chiplab checks your examples against each other: each one is classified with ",
        "itself left out, and any the model would call something else is listed and outlined (“chip (2, 9) was ",
        "clicked as Ge, looks like vacuum”). It is never silently repainted: check it, it may be a mis-click or a ",
        "class that needs more examples. The percentage is how sure the model is without that example; on test ",
        "images it was never tuned on the check also lists 4–6 % of correct examples.",
      ),
      p(
        "“Label these next” frames in amber the chips the current result is least sure about and that look least ",
        "like any of your examples: labelling those spreads your examples over the image. On our test images they ",
        "helped as much as the same number of other new examples, not more: what counts is how many examples per ",
        "class you give and how much of each class's variation they span.",
      ),
    ),

    section(
      "consensus",
      "Consensus",
      p(
        "Several people can label the same grid; every click is kept as a vote, never overwritten. A consensus rule ",
        "turns the votes into the support set a segmentation uses:",
      ),
      h(
        "ul",
        {},
        h("li", {}, h("strong", {}, "Single owner: "), "one person's labels (e.g. yours)."),
        h(
          "li",
          {},
          h("strong", {}, "Majority: "),
          "each chip gets the class most people gave it; a tie for the ",
          "lead gives no label.",
        ),
        h(
          "li",
          {},
          h("strong", {}, "Curator: "),
          "the lab's curators and owners speak as one voice: the latest ",
          "curator vote on a chip wins.",
        ),
      ),
      p(
        "Freezing a support set gives it a number that never changes, so a result can always name exactly which ",
        "examples it used. Crowd tasks (“select every chip that shows Ge”) are chosen where people disagree or the ",
        "model is unsure.",
      ),
    ),

    section(
      "confidence",
      "Confidence",
      p(
        "Each chip, and each pixel of the map, has a confidence between 0 and 1: how sure Chiplab is of the class it ",
        "shows. The Confidence view paints it (yellow: sure; green, teal, then dark purple: less and less sure). ",
        "It is calibrated on the image ",
        "itself, so a chip that looks like none of your examples is not shown as certain, and chips on a boundary ",
        "between classes are shown as uncertain.",
      ),
      p(
        "Read it as a frequency: of the chips shown at 0.8, about 8 in 10 are right. On test images that Chiplab's ",
        "settings were never tuned on, this holds to within 2 to 3 percentage points with 3 to 5 examples per class ",
        "(expected calibration error 0.021–0.034; confidence runs a little below accuracy). ",
        "With one example per class the confidence is rescaled by a map fitted on Chiplab's own tuning images ",
        "(error 0.014 on the test images), ",
        h("strong", {}, "but the map itself is least accurate and its intervals widest"),
        ": add examples before trusting it.",
      ),
      p(
        "A small, compact spot whose contrast stands out from its surroundings towards another class (for instance a ",
        "faint particle the map missed) gets at most 0.5, so misses show up as uncertain patches rather than as ",
        "confident background. Look at the Confidence view before reporting a count.",
      ),
    ),

    section(
      "interval",
      "The interval",
      p(
        "Area fractions come with a 95 % interval, e.g. 23.1 % ± 2.4 %. It covers the errors of the map itself: the ",
        "uncertain chips, and the fact that neighbouring chips tend to be wrong together (a whole grain mislabelled), ",
        "not only which examples you happened to click. Each result says in words what its interval covers.",
      ),
      p(
        "On test images the interval contained the true fraction 98 to 99 % of the time with 3 to 5 examples per ",
        "class, and 98 % of the time with a single example, where it is also about twice as wide. On the hardest kind ",
        "of test image (textured regions, one example per class) it did 93 % of the time. A map with few unsure chips ",
        "(only the outlines of its particles) gets a narrower interval than one with whole unsure regions.",
      ),
      p(
        h("strong", {}, "What it does not cover: "),
        "how representative this field of view is of your specimen. ",
        "One image is one sample; for the specimen, segment several images (or a whole dataset) and look at the ",
        "spread between them. Areas are in nm² (or the file's unit) when the image is calibrated, otherwise in pixels. ",
        "Particles touching the image edge are counted but not sized.",
      ),
    ),

    section(
      "results",
      "Results and history",
      p(
        "Every result records the image's checksum, the support-set version, the model version, the parameters and ",
        "the code version, and re-running it reproduces it exactly. History lists them; exports (CSV, PNG, OME-TIFF, ",
        "OME-Zarr, JSON) carry the same record in their names and contents, so a figure in a paper can be traced back ",
        "to the clicks that made it. The map is shown as soon as it is saved; the download links follow a moment ",
        "later (on a 4096 × 4096 image about a second and a half), when the job says it succeeded.",
      ),
    ),

    section(
      "limits",
      "When not to trust it",
      h(
        "ul",
        {},
        h("li", {}, "One example per class: confidences and intervals are least reliable (see above)."),
        h(
          "li",
          {},
          "Grains that differ only by lattice spacing in random orientations, perovskite motif variants, and ",
          "particles of one material that differ only by shape or thickness profile are often confused.",
        ),
        h(
          "li",
          {},
          "Faint and small particles can be missed (on the real MoO₃ test image, at the suggested 16 px chips ",
          "all 18 were found and 3 fragments counted besides; at 32 px all 18); ",
          "they are usually shown as uncertain. Touching particles of similar size may be merged into one.",
        ),
        h(
          "li",
          {},
          "Boundaries are placed to within about a third of a chip (particles) to three quarters of a chip ",
          "(textures) on test images, not to the pixel.",
        ),
        h(
          "li",
          {},
          "Flat, saturated particles on a plain background are sometimes better served by a pixel ",
          "classifier such as ilastik.",
        ),
      ),
    ),
  );
  root.append(page);
  if (topic) {
    const target = page.querySelector(`#help-${CSS.escape(topic)}`);
    if (target) requestAnimationFrame(() => target.scrollIntoView({ block: "start" }));
  }
}
