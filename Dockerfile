# One image for the web tier and every worker; docker-compose.yml picks the command.
FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# bubblewrap + libseccomp2: the code verifier's sandbox.
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm build-essential bubblewrap libseccomp2 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY pyproject.toml README.md ./
COPY flywheel ./flywheel
COPY training ./training
# CPU wheel of torch; a GPU image installs the CUDA build of the same version instead.
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -e .
COPY . .
RUN FLYWHEEL_PRODUCTION=1 DJANGO_SECRET_KEY=build-only DJANGO_ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "flywheel.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4"]
