"""Outbound delivery subscriptions: ``GET``, ``POST /subscriptions``; ``GET``, ``PUT``, ``PATCH``, ``DELETE``
``/subscriptions/{name}``.

Reading needs ``read``, changing ``operate``. A secret is answered once, by the ``POST`` that
made it (made there unless given); afterwards no answer holds it. Subscriptions of
``DELIVERIES_FILE`` are listed like the others and refused (409) by every change. After a
change, this process's consumers follow at once (``running`` says whether it consumes the
subscription's queue), the other Candystore processes at their next refresh.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from candystore.api.errors import BODY_ERRORS
from candystore.api.params import only_query
from candystore.deliveries import (
    DeliveryDefaults,
    DeliveryManager,
    DeliveryPlan,
    Subscription,
    SubscriptionCatalog,
    SubscriptionError,
    SubscriptionExists,
    SubscriptionFields,
    SubscriptionNotFound,
    SubscriptionSettings,
    SubscriptionSource,
)
from candystore.deliveries.subscription import (
    MAX_FILTERS,
    MAX_PATTERNS,
    NAME_PATTERN,
    ConditionText,
    Count,
    Flag,
    PatternText,
    RetryDelays,
    Seconds,
    TargetUrl,
    WebhookSecret,
)
from gumdrop.access_control import audit_actor, requires
from gumdrop.http_errors import ApiError, error_answers, issues_from_pydantic
from gumdrop.principals import Client, Scope

__all__ = ["SubscriptionCreatedModel", "SubscriptionModel", "SubscriptionPatch", "subscription_routes"]

_Name = Annotated[str, Path(pattern=NAME_PATTERN, description="the subscription's name")]

_answers = partial(
    error_answers,
    {
        404: "No subscription has this name",
        409: "The name is taken, or the subscription comes from DELIVERIES_FILE and is changed there",
        422: "Invalid input: every problem, each with the path parameter or JSON path at fault",
        503: "The database is unavailable: retry after `Retry-After` seconds",
    },
)


class SubscriptionModel(BaseModel):
    """A subscription as it runs (never its secret)."""

    name: str
    consumer: str = Field(description="its queue, and the `consumer` of its dead letters: `delivery.{name}`")
    source: SubscriptionSource = Field(description="`file`: DELIVERIES_FILE, read-only here; `api`: made here")
    patterns: list[str]
    filters: list[str]
    url: str
    retry_delays: list[float] | None = Field(description="its own retry tiers in seconds; null: the platform's")
    retry_schedule: list[float] = Field(
        description="seconds waited before each retry, as applied (the tiers spread per subscription)"
    )
    concurrency: int = Field(description="requests in flight at most")
    timeout: float = Field(description="seconds one request may take")
    enabled: bool
    disabled_reason: str | None = Field(description="why the platform disabled it (the receiver answered 410)")
    running: bool | None = Field(
        description="whether this Candystore process consumes its queue now; null: this process delivers nothing"
    )
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None

    @classmethod
    def of(cls, subscription: Subscription, plan: DeliveryPlan, running: bool | None) -> SubscriptionModel:
        return cls(
            name=subscription.name,
            consumer=subscription.consumer,
            source=subscription.source,
            patterns=list(subscription.patterns),
            filters=list(subscription.filters),
            url=subscription.url,
            retry_delays=None if subscription.retry_delays is None else list(subscription.retry_delays),
            retry_schedule=list(plan.retry_delays),
            concurrency=plan.concurrency,
            timeout=plan.timeout,
            enabled=subscription.enabled,
            disabled_reason=subscription.disabled_reason,
            running=running,
            created_at=subscription.created_at,
            created_by=subscription.created_by,
            updated_at=subscription.updated_at,
            updated_by=subscription.updated_by,
        )


class SubscriptionCreatedModel(SubscriptionModel):
    """The subscription just made, with its secret: the only answer that shows it."""

    secret: str = Field(
        description="the Standard Webhooks secret receivers verify with; keep it, it is not shown again"
    )


class SubscriptionList(BaseModel):
    items: list[SubscriptionModel]


def _not_null(schema: dict[str, Any]) -> None:
    """A field's schema without its ``null`` choice (the field is optional to leave out, not to set to null)."""
    choices = [choice for choice in schema.pop("anyOf", []) if choice != {"type": "null"}]
    if len(choices) == 1:
        schema.update(choices[0])
    elif choices:
        schema["anyOf"] = choices
    schema.pop("default", None)


class SubscriptionPatch(BaseModel):
    """Some settings of a subscription; those left out keep their values (null resets an optional one)."""

    model_config = ConfigDict(extra="forbid")

    # Null is no value for these: the document does not offer it, and it is refused (422) once merged.
    patterns: list[PatternText] | None = Field(
        default=None, min_length=1, max_length=MAX_PATTERNS, json_schema_extra=_not_null
    )
    filters: list[ConditionText] | None = Field(default=None, max_length=MAX_FILTERS, json_schema_extra=_not_null)
    url: TargetUrl | None = Field(default=None, json_schema_extra=_not_null)
    enabled: Flag | None = Field(default=None, json_schema_extra=_not_null)
    secret: WebhookSecret | None = Field(default=None, description="a new secret (never answered); null keeps it")
    retry_delays: RetryDelays | None = Field(default=None, description="null: the platform's tiers")
    concurrency: Count | None = Field(default=None, description="null: the default")
    timeout: Seconds | None = Field(default=None, description="null: the default")

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


@contextmanager
def _answered() -> Iterator[None]:
    """The catalog's refusals as error answers: 404 unknown name, 409 name taken or defined in the file."""
    try:
        yield
    except SubscriptionNotFound as exc:
        raise ApiError.at(404, "path.name", str(exc)) from exc
    except SubscriptionExists as exc:
        raise ApiError.at(409, "$.name", str(exc)) from exc
    except SubscriptionError as exc:  # read-only: defined in the file
        raise ApiError.at(409, "path.name", str(exc)) from exc
    except ValidationError as exc:  # a change that sets a required setting to null
        raise ApiError(422, issues_from_pydantic(exc.errors(), prefix=("body",))) from exc


def _model(
    subscription: Subscription, defaults: DeliveryDefaults, deliveries: DeliveryManager | None
) -> SubscriptionModel:
    running = None if deliveries is None else deliveries.running(subscription.name)
    return SubscriptionModel.of(subscription, DeliveryPlan.of(subscription, defaults), running)


async def _followed(deliveries: DeliveryManager | None) -> None:
    """This process's consumers brought in line with the change just made, when it delivers."""
    if deliveries is not None:
        await deliveries.refresh()


def subscription_routes(
    catalog: SubscriptionCatalog, defaults: DeliveryDefaults, deliveries: DeliveryManager | None
) -> APIRouter:
    """The routes over ``catalog``; ``deliveries``, when this process delivers, follows each change at once."""
    router = APIRouter(tags=["subscriptions"])
    reads = [requires(Scope.READ)]
    no_query = [Depends(only_query())]

    def model(subscription: Subscription) -> SubscriptionModel:
        return _model(subscription, defaults, deliveries)

    @router.get(
        "/subscriptions",
        response_model=SubscriptionList,
        summary="List the outbound delivery subscriptions (the file's first)",
        operation_id="listSubscriptions",
        responses=_answers(422, 503),
        dependencies=[*reads, *no_query],
    )
    async def list_subscriptions() -> SubscriptionList:
        return SubscriptionList(items=[model(subscription) for subscription in await catalog.all()])

    @router.get(
        "/subscriptions/{name}",
        response_model=SubscriptionModel,
        summary="One subscription",
        operation_id="getSubscription",
        responses=_answers(404, 422, 503),
        dependencies=[*reads, *no_query],
    )
    async def get_subscription(name: _Name) -> SubscriptionModel:
        with _answered():
            return model(await catalog.get(name))

    @router.post(
        "/subscriptions",
        status_code=201,
        response_model=SubscriptionCreatedModel,
        summary="Create a subscription; the answer shows its secret, once",
        operation_id="createSubscription",
        responses={**_answers(409, 422, 503), **BODY_ERRORS},
        dependencies=no_query,
    )
    async def create_subscription(
        body: SubscriptionFields, client: Annotated[Client, requires(Scope.OPERATE)]
    ) -> SubscriptionCreatedModel:
        with _answered():
            created = await catalog.create(body, actor=audit_actor(client, None, path="$"))
        await _followed(deliveries)
        shown = model(created)
        return SubscriptionCreatedModel(**shown.model_dump(), secret=created.secret)

    @router.put(
        "/subscriptions/{name}",
        response_model=SubscriptionModel,
        summary="Replace a subscription's settings (its secret is kept unless one is given)",
        operation_id="replaceSubscription",
        responses={**_answers(404, 409, 422, 503), **BODY_ERRORS},
        dependencies=no_query,
    )
    async def replace_subscription(
        name: _Name, body: SubscriptionSettings, client: Annotated[Client, requires(Scope.OPERATE)]
    ) -> SubscriptionModel:
        with _answered():
            changed = await catalog.replace(name, body, actor=audit_actor(client, None, path="$"))
        await _followed(deliveries)
        return model(changed)

    @router.patch(
        "/subscriptions/{name}",
        response_model=SubscriptionModel,
        summary='Change some of a subscription\'s settings (e.g. `{"enabled": false}`)',
        operation_id="updateSubscription",
        responses={**_answers(404, 409, 422, 503), **BODY_ERRORS},
        dependencies=no_query,
    )
    async def update_subscription(
        name: _Name, body: SubscriptionPatch, client: Annotated[Client, requires(Scope.OPERATE)]
    ) -> SubscriptionModel:
        with _answered():
            changed = await catalog.update(name, body.changes(), actor=audit_actor(client, None, path="$"))
        await _followed(deliveries)
        return model(changed)

    @router.delete(
        "/subscriptions/{name}",
        response_model=SubscriptionModel,
        summary="Delete a subscription and the record of what it delivered",
        operation_id="deleteSubscription",
        responses=_answers(404, 409, 422, 503),
        dependencies=[requires(Scope.OPERATE), *no_query],
    )
    async def delete_subscription(name: _Name) -> SubscriptionModel:
        with _answered():
            deleted = await catalog.delete(name)
        if deliveries is not None:
            await deliveries.forget(deleted)
        return model(deleted)

    return router
