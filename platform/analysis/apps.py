from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    name = "analysis"

    def ready(self):
        # Django loads the models before ready(), not before this module: import here.
        from labeling import crowd
        from labeling.services import after_clicks

        from . import selectors
        from .services import segmentation_ahead_offer

        # crowd tasks weigh chips by the model's doubt: labeling asks, analysis answers (looked
        # up per call, so the selector stays the one place that reads results)
        crowd.confidence_source(lambda grid: selectors.latest_confidence(grid=grid))
        # a user's clicks on a grid they segmented start the re-run ahead of its click
        after_clicks(segmentation_ahead_offer)
