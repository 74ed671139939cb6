# The published images: one per supported Python version, each for amd64 and arm64, with an
# SBOM and a provenance attestation.
#
#   docker buildx bake --print                      # what would be built
#   docker buildx bake --push                       # build and push every variant
#   VERSION=0.2.1 REVISION=$(git rev-parse HEAD) CREATED=$(date -u +%FT%TZ) docker buildx bake --push
#   docker buildx bake local                        # one image for this machine, loaded locally
#
# Tags: <registry>/<image>:py3.14, :0.2.0-py3.14 for every Python version (targets image-py311
# ... image-py314), and :latest, :0.2.0 on the default (newest) one. Python 3.10 is no longer
# published; the package itself still installs on it (pip install . from a checkout).

variable "REGISTRY" {
  default = "docker.io"
}

variable "IMAGE" {
  default = "jagerzhang/fastflyer"
}

# The OCI labels' version, revision, created and source (org.opencontainers.image.*).
variable "VERSION" {
  default = "0.2.0"
}

variable "REVISION" {
  default = "unknown"
}

variable "CREATED" {
  default = "1970-01-01T00:00:00Z"
}

variable "SOURCE" {
  default = "https://github.com/jagerzhang/fastflyer"
}

variable "PYTHON_VERSIONS" {
  default = ["3.11", "3.12", "3.13", "3.14"]
}

variable "DEFAULT_PYTHON" {
  default = "3.14"
}

variable "PLATFORMS" {
  default = ["linux/amd64", "linux/arm64"]
}

group "default" {
  targets = ["image", "latest"]
}

# Shared by every target; bake merges the inherited args key by key with a target's own.
target "_common" {
  context    = "."
  dockerfile = "image/Dockerfile"
  labels = {
    "org.opencontainers.image.title"       = "fastflyer"
    "org.opencontainers.image.description" = "Prebuilt runtime for FastAPI services: gunicorn + uvicorn workers, typed flyer_* settings, health checks, offline docs."
    "org.opencontainers.image.version"     = "${VERSION}"
    "org.opencontainers.image.revision"    = "${REVISION}"
    "org.opencontainers.image.created"     = "${CREATED}"
    "org.opencontainers.image.source"      = "${SOURCE}"
    "org.opencontainers.image.url"         = "${SOURCE}"
    "org.opencontainers.image.licenses"    = "MIT"
  }
  args = {
    VERSION  = VERSION
    REVISION = REVISION
    CREATED  = CREATED
    SOURCE   = SOURCE
  }
}

# What is pushed: every platform, and for each platform's image an SBOM (BuildKit's syft
# scanner) and a provenance attestation (mode=max: the build's full definition, args and
# materials).
target "_published" {
  inherits  = ["_common"]
  platforms = PLATFORMS
  attest = [
    "type=sbom",
    "type=provenance,mode=max",
  ]
}

# One multi-platform image per Python version.
target "image" {
  name     = "image-py${replace(py, ".", "")}"
  inherits = ["_published"]
  matrix = {
    py = PYTHON_VERSIONS
  }
  args = {
    PYTHON_VERSION = py
  }
  tags = ["${REGISTRY}/${IMAGE}:py${py}", "${REGISTRY}/${IMAGE}:${VERSION}-py${py}"]
}

# The default (newest) Python version's image again under :latest and :<version>; the same
# build as its image-py target, which BuildKit runs once: this adds tags, not work.
target "latest" {
  inherits = ["_published"]
  args = {
    PYTHON_VERSION = DEFAULT_PYTHON
  }
  tags = ["${REGISTRY}/${IMAGE}:latest", "${REGISTRY}/${IMAGE}:${VERSION}"]
}

# `make image`: the default Python version for this machine's platform only, loaded into the
# local image store (no attestations: that store does not keep them).
target "local" {
  inherits = ["_common"]
  args = {
    PYTHON_VERSION = DEFAULT_PYTHON
  }
  tags   = ["${IMAGE}:local"]
  output = ["type=docker"]
}
