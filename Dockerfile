# The one image every compose service runs: the Python services, the compiled C core, anvil.
# The project is installed in place (editable) from /app: the services find the contract
# artifact (contracts/build) and the C core relative to the source tree.
FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential nodejs npm \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 edgemarket
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev && ln -s /app/node_modules/.bin/anvil /usr/local/bin/anvil
COPY pyproject.toml setup.py README.md ./
COPY native ./native
COPY bisuna ./bisuna
COPY services ./services
COPY contracts ./contracts
# Compiles the cffi extension (native/bisuna_c) at install time, never at import time.
RUN pip install --no-cache-dir -e . \
    && mkdir -p /state /deployments && chown edgemarket /state /deployments
USER edgemarket
EXPOSE 8000
CMD ["edgemarket", "--help"]
