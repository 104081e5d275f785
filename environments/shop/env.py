"""`tools/shop-v1`: a customer-service agent in a small shop kept in SQLite, bound by policy rules.

Each task is a seeded world (catalogue, customers, orders) plus a customer request. The goal is a
database state: the state reached by the reference solution. The reward is 1.0 when the final
database equals the goal, the agent verified the customer's identity (and looked up the order
where the task needs it), and no policy rule was broken along the way; otherwise 0.0.

The backend is permissive, like a real one: the tools do what they are asked when it is
technically possible, and the policy is the agent's job. Every breach is recorded and fails
the episode.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from openenvs import Message, Score, Task, ToolCall
from openenvs.tools import ToolEnv, ToolEnvConfig, tool

__all__ = ["KINDS", "POLICY", "OrderLine", "ShopConfig", "ShopEnv"]

POLICY = """Shop policy (you must follow it):
1. Before you change anything for a customer, verify their identity with `find_customer` using the email they give.
2. Only act on orders that belong to the verified customer.
3. Only `pending` orders may be cancelled or have their shipping address changed.
4. Refunds are only for `delivered` orders, at most 30 days after delivery.
5. At most 5 units of any one product per order; never order more than is in stock.
If a request breaks the policy, do not perform it: explain why to the customer.
When you are done, reply to the customer without calling a tool."""

_PRODUCTS = [
    ("P01", "Trail running shoes", "shoes"),
    ("P02", "Leather boots", "shoes"),
    ("P03", "Canvas sneakers", "shoes"),
    ("P04", "Wool socks", "clothing"),
    ("P05", "Rain jacket", "clothing"),
    ("P06", "Fleece hoodie", "clothing"),
    ("P07", "Cotton t-shirt", "clothing"),
    ("P08", "Steel water bottle", "gear"),
    ("P09", "Camping headlamp", "gear"),
    ("P10", "Daypack 20L", "gear"),
    ("P11", "Trekking poles", "gear"),
    ("P12", "Sleeping pad", "gear"),
]
_CUSTOMERS = [
    ("C01", "Ada Byrne", "ada.byrne@example.com"),
    ("C02", "Bo Chen", "bo.chen@example.com"),
    ("C03", "Carla Diaz", "carla.diaz@example.com"),
    ("C04", "Dev Patel", "dev.patel@example.com"),
    ("C05", "Emi Sato", "emi.sato@example.com"),
    ("C06", "Femi Ade", "femi.ade@example.com"),
]
_STREETS = ["Oak St", "Elm Ave", "Harbor Rd", "Mill Lane", "Cedar Blvd", "Bridge St", "Park Row", "Lake Dr"]
_CITIES = ["Springfield", "Riverton", "Lakeside", "Fairview", "Hillcrest"]

KINDS = [
    "cancel_pending",
    "cancel_shipped_refuse",
    "refund_recent",
    "refund_late_refuse",
    "change_address",
    "place_order",
    "place_over_limit",
    "out_of_stock_alternative",
    "cancel_by_product",
    "wrong_owner_refuse",
]
"""Task kinds; task *i* has kind ``KINDS[i % len(KINDS)]`` with seeded details."""

_SCHEMA = """
CREATE TABLE products (id TEXT PRIMARY KEY, name TEXT, category TEXT, price_cents INTEGER, stock INTEGER);
CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT, email TEXT UNIQUE, address TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id TEXT, status TEXT, address TEXT, delivered_days_ago INTEGER);
CREATE TABLE order_items (order_id INTEGER, product_id TEXT, quantity INTEGER, price_cents INTEGER);
CREATE TABLE refunds (order_id INTEGER, amount_cents INTEGER, reason TEXT);
"""


class OrderLine(BaseModel):
    """One line of a new order."""

    product_id: str = Field(description="Product id, e.g. 'P03'.")
    quantity: int = Field(description="Number of units (1 to 5).")


def _address(rng: random.Random) -> str:
    return f"{rng.randint(1, 999)} {rng.choice(_STREETS)}, {rng.choice(_CITIES)}"


def _world(rng: random.Random) -> dict[str, Any]:
    products = [
        {"id": pid, "name": name, "category": cat, "price_cents": rng.randint(8, 160) * 50, "stock": rng.randint(6, 40)}
        for pid, name, cat in _PRODUCTS
    ]
    customers = [{"id": cid, "name": name, "email": email, "address": _address(rng)} for cid, name, email in _CUSTOMERS]
    orders, items = [], []
    for oid in range(1001, 1015):
        customer = rng.choice(customers)
        status = rng.choice(["pending", "shipped", "delivered", "delivered"])
        days = rng.randint(1, 80) if status == "delivered" else None
        orders.append(
            {
                "id": oid,
                "customer_id": customer["id"],
                "status": status,
                "address": customer["address"],
                "delivered_days_ago": days,
            }
        )
        for product in rng.sample(products, rng.randint(1, 3)):
            items.append(
                {
                    "order_id": oid,
                    "product_id": product["id"],
                    "quantity": rng.randint(1, 3),
                    "price_cents": product["price_cents"],
                }
            )
    return {"products": products, "customers": customers, "orders": orders, "items": items}


def _set(order: dict[str, Any], status: str, days: int | None = None) -> None:
    order["status"] = status
    order["delivered_days_ago"] = days


Solution = list[tuple[str, dict[str, Any]]]
"""A reference solution: the tool calls, in order, as (name, arguments)."""


@dataclass
class _Request:
    """What every task kind starts from: the customer who writes in, one of their orders, the identity check."""

    rng: random.Random
    world: dict[str, Any]
    customer: dict[str, Any]
    order: dict[str, Any]

    @property
    def oid(self) -> int:
        return int(self.order["id"])

    @property
    def cid(self) -> str:
        return str(self.customer["id"])

    @property
    def hello(self) -> str:
        return f"Hi, this is {self.customer['name']} ({self.customer['email']})."

    @property
    def verify(self) -> tuple[str, dict[str, Any]]:
        return ("find_customer", {"email": self.customer["email"]})

    @property
    def need(self) -> list[str]:
        return [f"find_customer:{self.customer['email']}"]


def _request(rng: random.Random, world: dict[str, Any]) -> _Request:
    """Pick the customer and one of their orders (giving them one if they have none)."""
    customer = rng.choice(world["customers"])
    own = [o for o in world["orders"] if o["customer_id"] == customer["id"]]
    if not own:
        own = [rng.choice(world["orders"])]
        own[0]["customer_id"] = customer["id"]
        own[0]["address"] = customer["address"]
    return _Request(rng, world, customer, rng.choice(own))


TaskParts = tuple[str, Solution, list[str]]
"""(request text, reference solution, required lookups) of one task."""


def _cancel_pending(r: _Request) -> TaskParts:
    _set(r.order, "pending")
    reason = r.rng.choice(["I ordered it by mistake", "I found it cheaper elsewhere", "I no longer need it"])
    return (
        f"{r.hello} Please cancel my order #{r.oid}, {reason}.",
        [r.verify, ("cancel_order", {"order_id": r.oid, "reason": reason})],
        r.need,
    )


def _refuse_after_lookup(r: _Request, status: str, days: int | None, ask: str) -> TaskParts:
    """A request the policy forbids: the right move is to look the order up and decline."""
    _set(r.order, status, days)
    return f"{r.hello} {ask}", [r.verify, ("get_order", {"order_id": r.oid})], [*r.need, f"get_order:{r.oid}"]


def _cancel_shipped_refuse(r: _Request) -> TaskParts:
    return _refuse_after_lookup(r, "shipped", None, f"Cancel order #{r.oid} right away please.")


def _refund_recent(r: _Request) -> TaskParts:
    _set(r.order, "delivered", r.rng.randint(2, 28))
    reason = r.rng.choice(["it arrived damaged", "it does not fit", "it is not what I expected"])
    return (
        f"{r.hello} I want a refund for order #{r.oid}; {reason}.",
        [r.verify, ("refund_order", {"order_id": r.oid, "reason": reason})],
        r.need,
    )


def _refund_late_refuse(r: _Request) -> TaskParts:
    days = r.rng.randint(35, 120)
    return _refuse_after_lookup(r, "delivered", days, f"Please refund order #{r.oid}, I changed my mind.")


def _change_address(r: _Request) -> TaskParts:
    _set(r.order, "pending")
    new = _address(r.rng)
    return (
        f"{r.hello} Please ship order #{r.oid} to {new} instead.",
        [r.verify, ("update_address", {"order_id": r.oid, "address": new})],
        r.need,
    )


def _place(r: _Request, over_limit: bool) -> TaskParts:
    product = r.rng.choice(r.world["products"])
    product["stock"] = max(product["stock"], 12)
    if not over_limit:
        qty = r.rng.randint(1, 4)
        ask, final = f"I'd like to order {qty} x {product['name']}.", qty
    else:
        qty = r.rng.randint(7, 9)
        ask, final = f"I'd like {qty} x {product['name']}; if that is more than allowed, order the most I may.", 5
    line = {"product_id": product["id"], "quantity": final}
    return (
        f"{r.hello} {ask}",
        [
            r.verify,
            ("list_products", {"category": product["category"]}),
            ("place_order", {"customer_id": r.cid, "items": [line]}),
        ],
        r.need,
    )


def _out_of_stock_alternative(r: _Request) -> TaskParts:
    category = r.rng.choice(["shoes", "clothing", "gear"])
    same = [p for p in r.world["products"] if p["category"] == category]
    wanted = r.rng.choice(same)
    wanted["stock"] = 0
    others = [p for p in same if p is not wanted]
    for i, p in enumerate(sorted(others, key=lambda p: p["price_cents"])):
        p["price_cents"] += i * 50  # distinct prices so "cheapest" is unique
        p["stock"] = max(p["stock"], 3)
    cheapest = min(others, key=lambda p: p["price_cents"])
    line = {"product_id": cheapest["id"], "quantity": 1}
    return (
        f"{r.hello} Please order one {wanted['name']}. If it is out of stock, order the cheapest other "
        f"{category} item that is in stock instead.",
        [r.verify, ("list_products", {"category": category}), ("place_order", {"customer_id": r.cid, "items": [line]})],
        r.need,
    )


def _cancel_by_product(r: _Request) -> TaskParts:
    world, products = r.world, r.world["products"]
    second = r.rng.choice([o for o in world["orders"] if o is not r.order])
    second["customer_id"], second["address"] = r.cid, r.customer["address"]
    _set(r.order, "pending")
    _set(second, "pending")
    mine = {i["product_id"] for i in world["items"] if i["order_id"] == r.oid}
    theirs = {i["product_id"] for i in world["items"] if i["order_id"] == second["id"]}
    unique = sorted(mine - theirs)
    if not unique:  # give the target order a product the other lacks
        spare = next(p for p in products if p["id"] not in theirs)
        world["items"].append(
            {"order_id": r.oid, "product_id": spare["id"], "quantity": 1, "price_cents": spare["price_cents"]}
        )
        unique = [spare["id"]]
    name = next(p["name"] for p in products if p["id"] == unique[0])
    return (
        f"{r.hello} One of my pending orders has the {name} in it. Please cancel that order.",
        [
            r.verify,
            ("list_orders", {"customer_id": r.cid}),
            ("cancel_order", {"order_id": r.oid, "reason": "customer request"}),
        ],
        r.need,
    )


def _wrong_owner_refuse(r: _Request) -> TaskParts:
    other = r.rng.choice([c for c in r.world["customers"] if c is not r.customer])
    _set(r.order, "pending")
    r.order["customer_id"], r.order["address"] = other["id"], other["address"]
    ask = f"Please cancel order #{r.oid}, it's my friend's but I'm handling it."
    return f"{r.hello} {ask}", [r.verify, ("get_order", {"order_id": r.oid})], [*r.need, f"get_order:{r.oid}"]


_KIND_BUILDERS: dict[str, Callable[[_Request], TaskParts]] = {
    "cancel_pending": _cancel_pending,
    "cancel_shipped_refuse": _cancel_shipped_refuse,
    "refund_recent": _refund_recent,
    "refund_late_refuse": _refund_late_refuse,
    "change_address": _change_address,
    "place_order": lambda r: _place(r, over_limit=False),
    "place_over_limit": lambda r: _place(r, over_limit=True),
    "out_of_stock_alternative": _out_of_stock_alternative,
    "cancel_by_product": _cancel_by_product,
    "wrong_owner_refuse": _wrong_owner_refuse,
}


def _task_for(kind: str, rng: random.Random, world: dict[str, Any]) -> TaskParts:
    """Fix the world so the task of `kind` makes sense; return (request, reference solution, required lookups)."""
    return _KIND_BUILDERS[kind](_request(rng, world))


class ShopConfig(ToolEnvConfig):
    """Config of `tools/shop-v1`."""

    max_turns: int = Field(default=12, ge=1, description="Truncate the episode after this many policy turns.")


class ShopEnv(ToolEnv[ShopConfig]):
    """Customer service in a SQLite shop: reach the goal state without breaking the policy."""

    Config = ShopConfig
    default_system_prompt: ClassVar[str | None] = "You are a customer-service agent for an outdoor shop.\n" + POLICY

    def __init__(self, **kwargs: Any) -> None:
        """Validate the config; the database opens in reset()."""
        super().__init__(**kwargs)
        self.db: sqlite3.Connection | None = None
        self.verified: set[str] = set()
        self.violations: list[str] = []
        self.lookups: set[str] = set()

    # ---- tasks ---------------------------------------------------------------------------------

    def get_task(self, index: int) -> Task:
        """Task `index`: a seeded world and a request of kind ``KINDS[index % len(KINDS)]``."""
        rng = self.task_rng(index)
        kind = KINDS[index % len(KINDS)]
        world = _world(rng)
        request, solution, required = _task_for(kind, rng, world)
        goal = _goal_state(world, solution)
        return Task(
            prompt=request,
            answer=goal,
            metadata={
                "kind": kind,
                "world": world,
                "solution": [list(step) for step in solution],
                "required": required,
            },
        )

    def on_reset(self, task: Task) -> None:
        """Load the task's world into a fresh in-memory database."""
        self.close()
        self.db = _open(task.metadata["world"])
        self.verified, self.violations, self.lookups = set(), [], set()

    def close(self) -> None:
        """Close the database."""
        if getattr(self, "db", None) is not None:
            assert self.db is not None
            self.db.close()
            self.db = None

    # ---- tools ---------------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self.db is None:
            raise RuntimeError("the shop is closed; call reset() first")
        return self.db

    def _order(self, order_id: int) -> dict[str, Any]:
        row = self._conn().execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
        if row is None:
            raise LookupError(f"no order #{order_id}")
        return dict(row)

    def _policy_owner(self, order: dict[str, Any], action: str) -> None:
        if order["customer_id"] not in self.verified:
            self.violations.append(f"{action} on order #{order['id']} without verifying its owner")

    @tool
    def find_customer(self, email: str) -> dict[str, Any]:
        """Look up a customer by email; this verifies their identity for the conversation.

        Args:
            email: The customer's email address.
        """
        row = self._conn().execute("SELECT * FROM customers WHERE lower(email) = lower(?)", (email.strip(),)).fetchone()
        if row is None:
            raise LookupError(f"no customer with email {email!r}")
        self.verified.add(row["id"])
        self.lookups.add(f"find_customer:{row['email']}")
        return dict(row)

    @tool
    def list_products(self, category: str | None = None) -> list[dict[str, Any]]:
        """List the catalogue (optionally one category) with prices in cents and stock.

        Args:
            category: One of 'shoes', 'clothing', 'gear'; omit for all products.
        """
        sql, args = "SELECT * FROM products", ()
        if category:
            sql, args = sql + " WHERE category = ?", (category,)
        return [dict(r) for r in self._conn().execute(sql + " ORDER BY id", args)]

    @tool
    def list_orders(self, customer_id: str) -> list[dict[str, Any]]:
        """List a customer's orders with their status and items.

        Args:
            customer_id: The customer's id, e.g. 'C02'.
        """
        rows = (
            self._conn().execute("SELECT id FROM orders WHERE customer_id = ? ORDER BY id", (customer_id,)).fetchall()
        )
        return [self.get_order(r["id"]) for r in rows]

    @tool
    def get_order(self, order_id: int) -> dict[str, Any]:
        """Show an order: owner, status, address, days since delivery and items.

        Args:
            order_id: The order number, e.g. 1004.
        """
        order = self._order(order_id)
        order["items"] = [
            dict(r)
            for r in self._conn().execute(
                "SELECT product_id, quantity, price_cents FROM order_items WHERE order_id = ? ORDER BY product_id",
                (order_id,),
            )
        ]
        self.lookups.add(f"get_order:{order_id}")
        return order

    @tool
    def cancel_order(self, order_id: int, reason: str) -> str:
        """Cancel an order and put its items back in stock.

        Args:
            order_id: The order number.
            reason: Why the customer cancels.
        """
        order = self._order(order_id)
        if order["status"] in ("cancelled", "refunded"):
            raise ValueError(f"order #{order_id} is already {order['status']}")
        self._policy_owner(order, "cancel")
        if order["status"] != "pending":
            self.violations.append(f"cancelled order #{order_id} while {order['status']}")
        db = self._conn()
        for item in db.execute(
            "SELECT product_id, quantity FROM order_items WHERE order_id = ?", (order_id,)
        ).fetchall():
            db.execute("UPDATE products SET stock = stock + ? WHERE id = ?", (item["quantity"], item["product_id"]))
        db.execute("UPDATE orders SET status = 'cancelled' WHERE id = ?", (order_id,))
        return f"Order #{order_id} cancelled."

    @tool
    def refund_order(self, order_id: int, reason: str) -> str:
        """Refund an order in full.

        Args:
            order_id: The order number.
            reason: Why the customer wants a refund.
        """
        order = self._order(order_id)
        if order["status"] in ("refunded", "cancelled"):
            raise ValueError(f"order #{order_id} is {order['status']}; nothing to refund")
        self._policy_owner(order, "refund")
        if order["status"] != "delivered":
            self.violations.append(f"refunded order #{order_id} while {order['status']}")
        elif (order["delivered_days_ago"] or 0) > 30:
            self.violations.append(f"refunded order #{order_id} {order['delivered_days_ago']} days after delivery")
        db = self._conn()
        total = db.execute(
            "SELECT COALESCE(SUM(quantity * price_cents), 0) AS t FROM order_items WHERE order_id = ?", (order_id,)
        ).fetchone()["t"]
        db.execute("INSERT INTO refunds VALUES (?, ?, ?)", (order_id, total, reason))
        db.execute("UPDATE orders SET status = 'refunded' WHERE id = ?", (order_id,))
        return f"Refunded {total} cents for order #{order_id}."

    @tool
    def update_address(self, order_id: int, address: str) -> str:
        """Change the shipping address of an order.

        Args:
            order_id: The order number.
            address: The new address, e.g. '12 Oak St, Springfield'.
        """
        order = self._order(order_id)
        self._policy_owner(order, "change the address")
        if order["status"] != "pending":
            self.violations.append(f"changed the address of order #{order_id} while {order['status']}")
        self._conn().execute("UPDATE orders SET address = ? WHERE id = ?", (address.strip(), order_id))
        return f"Order #{order_id} will ship to {address.strip()}."

    @tool
    def place_order(self, customer_id: str, items: list[OrderLine]) -> dict[str, Any]:
        """Place a new order for a customer, shipped to their address on file.

        Args:
            customer_id: The customer's id, e.g. 'C02'.
            items: Lines of the order: product id and quantity.
        """
        db = self._conn()
        customer = db.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone()
        if customer is None:
            raise LookupError(f"no customer {customer_id!r}")
        if not items:
            raise ValueError("an order needs at least one item")
        lines: dict[str, int] = {}
        for line in items:
            if line.quantity < 1:
                raise ValueError(f"quantity of {line.product_id} must be at least 1")
            lines[line.product_id] = lines.get(line.product_id, 0) + line.quantity
        prices = {}
        for pid, qty in lines.items():
            product = db.execute("SELECT * FROM products WHERE id = ?", (pid,)).fetchone()
            if product is None:
                raise LookupError(f"no product {pid!r}")
            if product["stock"] < qty:
                raise ValueError(f"only {product['stock']} of {pid} in stock, asked for {qty}")
            prices[pid] = product["price_cents"]
        if customer_id not in self.verified:
            self.violations.append(f"placed an order for {customer_id} without verifying them")
        for pid, qty in lines.items():
            if qty > 5:
                self.violations.append(f"ordered {qty} units of {pid} (limit 5)")
        oid = db.execute("SELECT MAX(id) AS m FROM orders").fetchone()["m"] + 1
        db.execute("INSERT INTO orders VALUES (?, ?, 'pending', ?, NULL)", (oid, customer_id, customer["address"]))
        for pid, qty in sorted(lines.items()):
            db.execute("INSERT INTO order_items VALUES (?, ?, ?, ?)", (oid, pid, qty, prices[pid]))
            db.execute("UPDATE products SET stock = stock - ? WHERE id = ?", (qty, pid))
        return {"order_id": oid, "status": "pending", "total_cents": sum(prices[p] * q for p, q in lines.items())}

    # ---- scoring -------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The canonical state the goal is compared with (orders, items, stock, refunds)."""
        return _snapshot(self._conn())

    def check(self, task: Task) -> Score:
        """1.0 when the database equals the goal, the required lookups were made and no rule was broken."""
        state = self.state()
        matches = state == task.answer
        missing = [r for r in task.metadata["required"] if r not in self.lookups]
        correct = matches and not missing and not self.violations
        return Score(
            reward=1.0 if correct else 0.0,
            correct=correct,
            info={
                "kind": task.metadata["kind"],
                "goal_reached": matches,
                "missing_lookups": missing,
                "violations": list(self.violations),
            },
        )

    def oracle(self) -> str | Message | None:
        """The next call of the reference solution, then a closing reply."""
        if self.task is None:
            return None
        done = sum(1 for m in self.transcript if m.role == "assistant" and m.tool_calls)
        solution = self.task.metadata["solution"]
        if done < len(solution):
            name, args = solution[done]
            return Message(role="assistant", tool_calls=[ToolCall.create(name, args, id=f"call_{done}")])
        return "All done. Is there anything else I can help you with?"


def _open(world: dict[str, Any]) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.executescript(_SCHEMA)
    db.executemany("INSERT INTO products VALUES (:id, :name, :category, :price_cents, :stock)", world["products"])
    db.executemany("INSERT INTO customers VALUES (:id, :name, :email, :address)", world["customers"])
    db.executemany(
        "INSERT INTO orders VALUES (:id, :customer_id, :status, :address, :delivered_days_ago)", world["orders"]
    )
    db.executemany("INSERT INTO order_items VALUES (:order_id, :product_id, :quantity, :price_cents)", world["items"])
    return db


def _snapshot(db: sqlite3.Connection) -> dict[str, Any]:
    orders = {
        str(r["id"]): [r["customer_id"], r["status"], r["address"]]
        for r in db.execute("SELECT id, customer_id, status, address FROM orders ORDER BY id")
    }
    items = sorted([r["order_id"], r["product_id"], r["quantity"]] for r in db.execute("SELECT * FROM order_items"))
    stock = {r["id"]: r["stock"] for r in db.execute("SELECT id, stock FROM products ORDER BY id")}
    refunds = sorted([r["order_id"], r["amount_cents"]] for r in db.execute("SELECT * FROM refunds"))
    return json.loads(json.dumps({"orders": orders, "items": items, "stock": stock, "refunds": refunds}))


def _goal_state(world: dict[str, Any], solution: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Run the reference solution on a scratch copy of the world; the resulting state is the goal."""
    scratch = ShopEnv()
    scratch.db = _open(world)
    try:
        for name, args in solution:
            result = scratch.toolbox.execute(ToolCall.create(name, args))
            if (result.content or "").startswith("Error"):
                raise RuntimeError(f"reference solution step {name}({args}) failed: {result.content}")
        if scratch.violations:
            raise RuntimeError(f"reference solution breaks the policy: {scratch.violations}")
        return scratch.state()
    finally:
        scratch.close()
