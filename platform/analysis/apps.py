from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    name = "analysis"

    def ready(self):
        # Django loads the models before ready(), not before this module: import here.
        from labeling import crowd

        from . import selectors

        # crowd tasks weigh chips by the model's doubt: labeling asks, analysis answers (looked
        # up per call, so the selector stays the one place that reads results)
        crowd.confidence_source(lambda grid: selectors.latest_confidence(grid=grid))
