"""Structured JSON logging (Powertools Logger) with one default configuration."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from tributary.settings import get_settings


def get_logger(service: str) -> Logger:
    return Logger(service=service, level=get_settings().log_level)
