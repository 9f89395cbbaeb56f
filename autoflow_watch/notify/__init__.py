"""Notifications with Apprise: which run events, grouped how, sent off the main loop to which targets."""

from autoflow_watch.config.notify_urls import Target, load_targets, urls_problems
from autoflow_watch.notify.dispatch import Dispatcher, SendPolicy
from autoflow_watch.notify.events import EventKind, RunEvent, classify

__all__ = ["Dispatcher", "EventKind", "RunEvent", "SendPolicy", "Target", "classify", "load_targets", "urls_problems"]
