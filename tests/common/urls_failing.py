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


urlpatterns = [
    path("api/test-broken/", BrokenApi.as_view()),
    path("api/test-broken-plain/", broken_page),
    path("api/test-forbidden-plain/", forbidden_page),
    path("api/test-ok-plain/", ok_page),
    path("test-broken-page/", broken_page),
    *real_urlpatterns,
]
