from django.contrib import admin

from .models import GoldChip, Grid, LabelClass, LabelSchema, SupportSetVersion, Vote


@admin.register(LabelSchema)
class LabelSchemaAdmin(admin.ModelAdmin):
    list_display = ["name", "dataset", "is_default", "created"]


@admin.register(LabelClass)
class LabelClassAdmin(admin.ModelAdmin):
    list_display = ["name", "schema", "colour", "order", "removed_at"]


@admin.register(Grid)
class GridAdmin(admin.ModelAdmin):
    list_display = ["image", "chip_size", "offset_x", "offset_y", "rows", "cols"]


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "grid", "row", "col", "label_class", "negative", "source"]

    def has_change_permission(self, request, obj=None):  # append-only
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(GoldChip)
class GoldChipAdmin(admin.ModelAdmin):
    list_display = ["grid", "row", "col", "label_class", "set_by"]


@admin.register(SupportSetVersion)
class SupportSetVersionAdmin(admin.ModelAdmin):
    list_display = ["schema", "number", "rule", "chip_size", "created_by", "created"]

    def has_change_permission(self, request, obj=None):  # immutable
        return False
