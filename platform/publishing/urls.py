"""Routes of the publishing app (filled as modules move here from catalog)."""

urlpatterns = []
