"""The browser app's Content-Security-Policy (the e2e tests fail on any violation)."""


def test_the_app_shell_allows_only_its_own_scripts_and_the_object_store(client, settings):
    policy = client.get("/")["Content-Security-Policy"]
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives["script-src"] == "'self'" and directives["object-src"] == "'none'"
    assert "unsafe-inline" not in policy and directives["frame-ancestors"] == "'none'"
    settings.CHIPLAB_STORAGE = "s3"  # previews redirect to the store browsers reach
    settings.S3_PUBLIC_ENDPOINT_URL = "https://s3.chiplab.example.org/"
    policy = client.get("/")["Content-Security-Policy"]
    assert "img-src 'self' data: blob: https://s3.chiplab.example.org;" in policy
