# The published images: one per supported Python version, for amd64 and arm64.
#
#   docker buildx bake --print                      # what would be built
#   docker buildx bake --push                       # build and push every variant
#   VERSION=0.2.1 REVISION=$(git rev-parse HEAD) CREATED=$(date -u +%FT%TZ) docker buildx bake
#   docker buildx bake local                        # one image for this machine, loaded locally
#
# Tags: <registry>/<image>:py3.12, :0.2.0-py3.12 for every Python version (target image-py312
# ...), and :latest, :0.2.0 for the default Python version (target latest).

variable "REGISTRY" {
  default = "docker.io"
}

variable "IMAGE" {
  default = "jagerzhang/fastflyer"
}

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
  default = ["3.10", "3.11", "3.12", "3.13"]
}

variable "DEFAULT_PYTHON" {
  default = "3.12"
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

target "image" {
  name     = "image-py${replace(py, ".", "")}"
  inherits = ["_common"]
  matrix = {
    py = PYTHON_VERSIONS
  }
  args = {
    PYTHON_VERSION = py
  }
  platforms = PLATFORMS
  tags      = ["${REGISTRY}/${IMAGE}:py${py}", "${REGISTRY}/${IMAGE}:${VERSION}-py${py}"]
}

# The default Python version's image again under :latest and :<version>; BuildKit builds
# identical steps once, so this adds tags, not work.
target "latest" {
  inherits = ["_common"]
  args = {
    PYTHON_VERSION = DEFAULT_PYTHON
  }
  platforms = PLATFORMS
  tags      = ["${REGISTRY}/${IMAGE}:latest", "${REGISTRY}/${IMAGE}:${VERSION}"]
}

target "local" {
  inherits = ["_common"]
  args = {
    PYTHON_VERSION = DEFAULT_PYTHON
  }
  tags   = ["${IMAGE}:local"]
  output = ["type=docker"]
}
