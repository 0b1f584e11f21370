"""The real URLs plus views that fail, for the error-handling tests."""

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from config.urls import urlpatterns as real_urlpatterns


class BrokenApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("secret internals /srv/chiplab/settings.py")


def broken_page(request):
    raise RuntimeError("secret internals /srv/chiplab/settings.py")


def forbidden_page(request):
    raise PermissionDenied


def ok_page(request):
    return HttpResponse("ok")


class DependencyDownApi(APIView):
    """Fails as a view does when a service it needs is down (``?service=``)."""

    permission_classes = [AllowAny]

    def get(self, request):
        raise dependency_error(request.GET.get("service", "database"))


def dependency_down_page(request):
    raise dependency_error(request.GET.get("service", "database"))


def dependency_error(service: str) -> Exception:
    from botocore.exceptions import EndpointConnectionError
    from django.db import OperationalError
    from kombu.exceptions import OperationalError as BrokerDown

    return {
        "database": OperationalError("connection to server at 127.0.0.1 refused"),
        "storage": EndpointConnectionError(endpoint_url="http://127.0.0.1:9000/chiplab"),
        "queue": BrokerDown("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
    }[service]


urlpatterns = [
    path("api/test-broken/", BrokenApi.as_view()),
    path("api/test-broken-plain/", broken_page),
    path("api/test-forbidden-plain/", forbidden_page),
    path("api/test-ok-plain/", ok_page),
    path("test-broken-page/", broken_page),
    path("api/test-dependency-down/", DependencyDownApi.as_view()),
    path("test-dependency-down-page/", dependency_down_page),
    *real_urlpatterns,
]
