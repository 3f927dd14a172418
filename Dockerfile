# The one image every compose service runs: Python services, the compiled C core, anvil.
FROM python:3.11-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev
COPY pyproject.toml setup.py README.md ./
COPY native ./native
COPY bisuna ./bisuna
COPY services ./services
COPY contracts ./contracts
# The project wheel (with the cffi extension compiled) and every dependency's wheel.
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends nodejs \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 edgemarket
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY --from=build /src/node_modules /opt/node_modules
COPY contracts /app/contracts
RUN ln -s /opt/node_modules/.bin/anvil /usr/local/bin/anvil
WORKDIR /app
RUN mkdir -p /state /deployments && chown edgemarket /state /deployments
USER edgemarket
EXPOSE 8000
CMD ["edgemarket", "--help"]
