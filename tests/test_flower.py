"""The Flower integration, in-process: SecAggWorkflow + secagg_mod over LocalGrid.

Every message and node context goes through Flower's protobuf serialization, as in the
deployment runtime. Faults are injected per node and per protocol step (0: the first message,
with training; then one per server prompt): 5 stages in the semi-honest mode (advertise_keys,
share_keys, share_check, masked_input, unmasking), 6 in the malicious mode (consistency_check
before unmasking), on the complete graph and on SecAgg+'s sparse graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from flower_support import (
    NODES,
    legacy_context,
    local_grid,
    malicious_nodes,
    mean_of,
    run_round,
    step_of,
)
from flwr.app import ConfigRecord, Context, Error, Message, RecordDict
from flwr.app.message_type import MessageType
from flwr.app.user_config import UserConfig

from secagg.integrations.flower import (
    SecAggWorkflow,
    WeakThresholdError,
    make_keys,
    secagg_mod,
)
from secagg.integrations.flower import records as rec
from secagg.integrations.flower.local_grid import LocalGrid, play_the_server_app

SORTED = sorted(NODES)
PARTITION = {node: i for i, node in enumerate(NODES)}
VICTIM = NODES[1]
Run = Callable[[], Message]

# The stages of protocol version 2 as the report names them: step 0 is the first message (with
# training), then one step per server prompt.
SEMI_HONEST_STAGES = ("advertise_keys", "share_keys", "share_check", "masked_input", "unmasking")
MALICIOUS_STAGES = (*SEMI_HONEST_STAGES[:4], "consistency_check", "unmasking")
MASKED_INPUT_STEP = 3  # a node lost after this step is in the sum


def workflow(threshold: int | None = 3, **kwargs: object) -> SecAggWorkflow:
    # max_weight = 1 = every node's example count: weights are exactly 1, so the aggregate of
    # 1/4-grid values is exact and the tests can compare it bit for bit.
    options: dict[str, object] = {"num_shares": 1.0, "max_weight": 1.0, "timeout": 0.3}
    options.update(kwargs)
    return SecAggWorkflow(reconstruction_threshold=threshold, **options)  # type: ignore[arg-type]


@dataclass
class Mode:
    """One way to run the protocol: its workflow, its nodes' config, its stages."""

    name: str
    stages: tuple[str, ...]
    make: Callable[[], SecAggWorkflow]
    node_config: Callable[[int], UserConfig] | None = None


def mode(name: str, tmp_path: Path) -> Mode:
    if name == "complete":
        return Mode(name, SEMI_HONEST_STAGES, lambda: workflow(3))
    if name == "sparse":  # num_shares=3: k = 2 neighbours, t = 2 of the 3 holders
        return Mode(name, SEMI_HONEST_STAGES, lambda: workflow(None, num_shares=3))
    assert name == "malicious"
    config = malicious_nodes(tmp_path)
    roster = tmp_path / "roster.json"
    return Mode(
        name,
        MALICIOUS_STAGES,
        lambda: workflow(3, security="malicious", roster=roster),
        config,
    )


def partitions(nodes: tuple[int, ...] | list[int]) -> list[int]:
    return sorted(PARTITION[n] for n in nodes)


def assert_model(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def only_in_round(server_round: int, fault: Callable[[int, Message, Run], Message | None]):  # type: ignore[no-untyped-def]
    """Apply `fault` to messages of one training round; deliver the others normally."""

    def hook(node: int, message: Message, run: Run) -> Message | None:
        if message.metadata.group_id != str(server_round):
            return run()
        return fault(node, message, run)

    return hook


def flip_payload(content: RecordDict) -> None:
    """Flip one byte in the middle of the secagg payload of `content`, in place."""
    data = bytearray(rec.read_payload(content))
    data[len(data) // 2] ^= 0x40
    content.array_records[rec.PAYLOAD_KEY] = rec.payload_record(bytes(data))


# ---------------------------------------------------------------------- complete rounds


@pytest.mark.parametrize("name", ["complete", "sparse", "malicious"])
def test_rounds_give_the_exact_fedavg_of_every_node(name: str, tmp_path: Path) -> None:
    m = mode(name, tmp_path)
    grid = local_grid(node_config=m.node_config)
    context = legacy_context(grid)
    wf = m.make()
    for server_round in (1, 2):
        sent = grid.messages_sent
        model = run_round(wf, grid, context, server_round)
        assert_model(model, mean_of(range(len(NODES)), server_round))
        report = wf.reports[-1]
        assert report.status == "completed"
        assert tuple(s.phase for s in report.stages) == m.stages
        assert report.nodes == tuple(SORTED)  # client ids 0..n-1 follow the sorted node ids
        assert report.survivors == tuple(SORTED)
        assert report.drops == [] and report.refusals == {}
        assert report.total_weight == len(NODES)
        assert report.bytes_total > 0
        assert report.security == ("malicious" if name == "malicious" else "semi_honest")
        assert report.neighbors == (2 if name == "sparse" else None)
        assert report.threshold == (2 if name == "sparse" else 3)
        # The malicious mode asks each node for its identity once, in the first round.
        hello = name == "malicious" and server_round == 1
        assert (report.hello is not None) is hello
        assert grid.messages_sent - sent == len(NODES) * (len(m.stages) + hello)


# ---------------------------------------------------------------------- dead and stalled nodes


LOSSES = [
    *[("complete", step, kind) for step in range(5) for kind in ("killed", "stalled")],
    *[("malicious", step, kind) for step in range(6) for kind in ("killed", "stalled")],
    *[("sparse", step, "killed") for step in range(5)],
]


@pytest.mark.parametrize(("name", "step", "kind"), LOSSES)
def test_a_node_lost_at_any_stage_is_dropped_and_the_round_completes(
    name: str, step: int, kind: str, tmp_path: Path
) -> None:
    m = mode(name, tmp_path)

    def fault(node: int, message: Message, run: Run) -> Message | None:
        s = step_of(message)
        if node != VICTIM or s is None or s < step:
            return run()
        if kind == "stalled" and s == step:
            run()  # the node works, but its reply misses the deadline
        return None

    grid = local_grid(only_in_round(1, fault), node_config=m.node_config)
    context = legacy_context(grid)
    wf = m.make()
    model = run_round(wf, grid, context, 1)
    report = wf.reports[-1]
    assert report.status == "completed"
    assert report.stages[step].phase == m.stages[step]
    [drop] = report.drops
    assert (drop.node_id, drop.client_id, drop.reason) == (
        VICTIM,
        SORTED.index(VICTIM),
        "TIMED_OUT",
    )
    assert drop.phase == m.stages[step]
    # Lost before it sent its masked input: not in the sum. Lost after: in the sum, and the
    # others' shares remove its self mask.
    in_sum = step > MASKED_INPUT_STEP
    assert (VICTIM in report.survivors) is in_sum
    assert_model(model, mean_of(partitions(report.survivors), 1))
    assert len(report.survivors) == len(NODES) - (0 if in_sum else 1)
    # The next round works, with the node back.
    model = run_round(wf, grid, context, 2)
    assert wf.reports[-1].status == "completed"
    assert wf.reports[-1].survivors == tuple(SORTED)
    assert_model(model, mean_of(partitions(SORTED), 2))


def test_too_few_nodes_abort_the_round_the_model_stays_and_the_next_round_works() -> None:
    victims = set(NODES[:3])  # 2 of 5 left, threshold 3

    def fault(node: int, message: Message, run: Run) -> Message | None:
        s = step_of(message)
        return None if node in victims and s is not None and s >= 2 else run()

    grid = local_grid(only_in_round(2, fault))
    context = legacy_context(grid)
    wf = workflow()
    after_1 = run_round(wf, grid, context, 1)
    after_2 = run_round(wf, grid, context, 2)
    report = wf.reports[-1]
    assert (report.status, report.reason) == ("aborted", "BELOW_THRESHOLD")
    assert report.survivors == ()
    assert {d.node_id for d in report.drops} == victims
    assert_model(after_2, after_1)  # no partial sum reached the model
    after_3 = run_round(wf, grid, context, 3)
    assert wf.reports[-1].status == "completed"
    assert_model(after_3, mean_of(partitions(SORTED), 3))


def test_a_round_with_fewer_nodes_than_the_threshold_is_cancelled() -> None:
    grid = local_grid(nodes=NODES[:2])
    context = legacy_context(grid)
    wf = workflow(threshold=3)
    before = run_round(wf, grid, context, 1)
    assert wf.reports[-1].status == "cancelled"
    assert wf.reports[-1].reason == "TOO_FEW_NODES"
    assert all(not a.any() for a in before)


# ---------------------------------------------------------------------- tampering


@pytest.mark.parametrize("step", range(len(SEMI_HONEST_STAGES)))
def test_a_node_whose_replies_are_tampered_with_is_dropped(step: int) -> None:
    def fault(node: int, message: Message, run: Run) -> Message | None:
        reply = run()
        if node == VICTIM and step_of(message) == step:
            flip_payload(reply.content)
        return reply

    grid = local_grid(only_in_round(1, fault))
    context = legacy_context(grid)
    wf = workflow()
    model = run_round(wf, grid, context, 1)
    report = wf.reports[-1]
    assert report.status == "completed"
    [drop] = report.drops
    assert drop.node_id == VICTIM
    assert drop.reason == "DECODE_FAILED"  # the envelope's integrity digest catches the flip
    assert drop.phase == report.stages[step].phase
    assert (VICTIM in report.survivors) is (step > MASKED_INPUT_STEP)
    assert_model(model, mean_of(partitions(report.survivors), 1))
    assert_model(run_round(wf, grid, context, 2), mean_of(partitions(SORTED), 2))


@pytest.mark.parametrize("step", range(1, len(SEMI_HONEST_STAGES)))
def test_a_prompt_tampered_with_on_its_way_drops_only_its_node(step: int) -> None:
    def fault(node: int, message: Message, run: Run) -> Message | None:
        if node == VICTIM and step_of(message) == step:
            flip_payload(message.content)
        return run()

    grid = local_grid(only_in_round(1, fault))
    context = legacy_context(grid)
    wf = workflow()
    model = run_round(wf, grid, context, 1)
    report = wf.reports[-1]
    assert report.status == "completed"
    assert report.refusals == {VICTIM: "INVALID_MESSAGE"}  # the client could not decode it
    assert [d.node_id for d in report.drops] == [VICTIM]
    assert_model(model, mean_of(partitions(report.survivors), 1))


def test_error_replies_and_foreign_replies_drop_the_node_without_crashing() -> None:
    def fault(node: int, message: Message, run: Run) -> Message | None:
        reply = run()
        if node == NODES[0]:
            return Message(Error(7, "boom"), reply_to=message)
        if node == NODES[1]:
            return Message(RecordDict({"x": ConfigRecord({"a": 1})}), reply_to=message)
        if node == NODES[2] and step_of(message) == 1:
            content = RecordDict()
            content.config_records[rec.CONFIG_KEY] = ConfigRecord(
                {"version": rec.FORMAT_VERSION, "nonce": b"\x00" * 32, "step": 1, "status": "ok"}
            )
            content.array_records[rec.PAYLOAD_KEY] = rec.payload_record(b"garbage")
            return Message(content, reply_to=message)
        return reply

    nodes = (*NODES, 77, 78)  # 3 of 7 misbehave, t = 4 of 7
    grid = local_grid(only_in_round(1, fault), nodes=nodes)
    context = legacy_context(grid)
    wf = workflow(threshold=4)
    model = run_round(wf, grid, context, 1)
    report = wf.reports[-1]
    assert report.status == "completed"
    assert report.refusals == {
        NODES[0]: "ERROR_REPLY",
        NODES[1]: "NOT_SECAGG",
        NODES[2]: "WRONG_SESSION_OR_STEP",
    }
    assert report.survivors == tuple(sorted(nodes[3:]))
    assert_model(model, mean_of(sorted(nodes.index(n) for n in report.survivors), 1))


def test_a_node_that_fails_to_train_steps_out_and_trains_next_round() -> None:
    grid = local_grid(fail_round={VICTIM: 1})
    context = legacy_context(grid)
    wf = workflow()
    model = run_round(wf, grid, context, 1)
    report = wf.reports[-1]
    assert report.status == "completed"
    assert report.refusals == {VICTIM: "ERROR_REPLY"}  # Flower reports the app's exception
    assert report.survivors == tuple(n for n in SORTED if n != VICTIM)
    assert_model(model, mean_of(partitions(report.survivors), 1))
    run_round(wf, grid, context, 2)
    assert wf.reports[-1].survivors == tuple(SORTED)


# ---------------------------------------------------------------------- the mod alone


def _context() -> Context:
    play_the_server_app()
    return Context(1, 5, {"partition-id": 0}, RecordDict(), {})


def test_the_mod_passes_other_messages_through() -> None:
    seen: list[Message] = []

    def app(msg: Message, ctxt: Context) -> Message:
        seen.append(msg)
        return Message(RecordDict(), reply_to=msg)

    for kind, content in (
        (MessageType.EVALUATE, RecordDict({rec.CONFIG_KEY: ConfigRecord({"step": 0})})),
        (MessageType.TRAIN, RecordDict({"config": ConfigRecord({"lr": 0.1})})),
    ):
        msg = Message(content, 5, kind)
        secagg_mod(msg, _context(), app)
        assert seen[-1] is msg


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"version": 2, "nonce": b"\x01" * 32, "step": 2}, "NO_SESSION"),
        ({"version": 1, "nonce": b"\x01" * 32, "step": 1}, "MALFORMED_PROMPT"),  # protocol v1
        ({"version": 9, "nonce": b"\x01" * 32, "step": 1}, "MALFORMED_PROMPT"),
        ({"version": 2, "nonce": "x", "step": 1}, "MALFORMED_PROMPT"),
        ({"version": 2, "nonce": b"\x01" * 32, "step": 0, "n": 3}, "MALFORMED_PROMPT"),
    ],
)
def test_the_mod_refuses_prompts_it_cannot_act_on(values: dict[str, object], reason: str) -> None:
    def app(msg: Message, ctxt: Context) -> Message:
        raise AssertionError("the app must not run")

    msg = Message(RecordDict({rec.CONFIG_KEY: ConfigRecord(values)}), 5, MessageType.TRAIN)  # type: ignore[arg-type]
    reply = secagg_mod(msg, _context(), app)
    config = reply.content.config_records[rec.CONFIG_KEY]
    assert rec.read_status(config) == (rec.STATUS_REFUSED, reason)
    assert rec.PAYLOAD_KEY not in reply.content.array_records


# ---------------------------------------------------------------------- sizes and settings


def test_a_ten_million_parameter_model_aggregates_exactly() -> None:
    size = 10_000_000
    nodes = (31, 32, 33)

    class Big:
        def __init__(self, pid: int) -> None:
            self.pid = pid

    from flwr.client import Client, NumPyClient
    from flwr.clientapp import ClientApp

    class BigClient(NumPyClient):
        def __init__(self, pid: int) -> None:
            self.pid = pid

        def fit(self, parameters, config):  # type: ignore[no-untyped-def]
            return [np.full(size, 0.25 * (self.pid + 1), np.float32)], 1, {}

    def client_fn(context: Context) -> Client:
        return BigClient(int(context.node_config["partition-id"])).to_client()

    app = ClientApp(client_fn=client_fn, mods=[secagg_mod])
    grid = LocalGrid(app, nodes, node_configs={n: {"partition-id": i} for i, n in enumerate(nodes)})
    context = legacy_context(grid, [np.zeros(size, np.float32)])
    wf = workflow(threshold=2)
    [model] = run_round(wf, grid, context, 1)
    assert wf.reports[-1].status == "completed"
    assert model.shape == (size,)
    assert np.all(model == np.float32(0.5))  # (0.25 + 0.5 + 0.75) / 3
    # The masked inputs travel as raw bytes: about 4 bytes per parameter per node each way.
    assert grid.bytes_received > 3 * 4 * size


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_shares": 2, "reconstruction_threshold": 2},
        {"num_shares": 3, "reconstruction_threshold": 4},
        {"num_shares": 1.5, "reconstruction_threshold": 2},
        {"num_shares": 1.0, "reconstruction_threshold": 0},
        {"num_shares": 1.0, "reconstruction_threshold": 1.5},
        {"num_shares": 1.0, "reconstruction_threshold": 2, "max_weight": 0},
        {"num_shares": 1.0, "reconstruction_threshold": 2, "timeout": -1},
        {"num_shares": 1.0, "reconstruction_threshold": 2, "quantization_range": 0},
        {"num_shares": 1.0, "reconstruction_threshold": 2, "modulus_range": 3},
        {"security": "malicious"},  # no roster
        {"security": "byzantine"},
        {"roster": "roster.json"},  # a roster without the malicious mode
        {"corrupt": 0.5},
        {"dropout": -0.1},
        {"allow_weak_threshold": "yes"},
    ],
)
def test_invalid_settings_are_refused_at_construction(kwargs: dict[str, object]) -> None:
    with pytest.raises((TypeError, ValueError)):
        SecAggWorkflow(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("num_shares", "threshold", "nodes", "plan"),
    [
        # num_shares counts the node itself: k = num_shares - 1, rounded up to an even k in
        # [2, n - 2], else the complete graph (None).
        (3, 2, 10, (2, 2)),
        (4, 3, 10, (4, 3)),  # k = 3 -> 4
        (9, 5, 10, (8, 5)),  # k = 8 = n - 2
        (10, 6, 10, (None, 6)),  # k = 9 -> 10 > n - 2: complete graph
        (3, 2, 3, (None, 2)),  # k = 2 > n - 2
        (1.0, 3, 5, (None, 3)),
        (1, 3, 5, (None, 3)),  # Flower: the int 1 means every node
        (0.5, 0.6, 10, (4, 3)),  # Flower's float rule: round(5) = 5 holders; t = round(3)
        (0.4, 0.6, 10, (4, 3)),  # round(4) = 4 is even: 5 holders, as in Flower
        (0.1, 0.6, 10, (None, 6)),  # round(1) <= 2: every node, as in Flower
        (1.0, 0.6, 2, (None, 2)),  # a fraction never gives t below 2
        # secagg's defaults: the smallest t the policy accepts for the graph ...
        (1.0, None, 5, (None, 3)),
        (3, None, 10, (2, 2)),
        (1.0, None, 40, (None, 21)),
        # ... and the finder's (k, t) when num_shares is None too (5% dropout, 5% corrupt).
        (None, None, 1000, (30, 17)),
        (None, None, 5, (None, 3)),
        (None, 20, 1000, (30, 20)),
    ],
)
def test_flowers_parameters_map_onto_the_graph_and_threshold(
    num_shares: int | float | None,
    threshold: int | float | None,
    nodes: int,
    plan: tuple[int | None, int],
) -> None:
    settings = SecAggWorkflow(num_shares, threshold).settings
    got = settings.plan(nodes)
    assert (got.neighbors, got.threshold) == plan


def test_malicious_defaults_follow_the_malicious_policy(tmp_path: Path) -> None:
    make_keys(tmp_path, 3)
    wf = SecAggWorkflow(
        num_shares=1.0, security="malicious", roster=tmp_path / "roster.json", corrupt=0.2
    )
    # 2t > n + n_C: 20 nodes with 4 corrupt need t >= 13 (semi-honest: 11).
    assert wf.settings.plan(20).threshold == 13
    assert SecAggWorkflow(num_shares=1.0, corrupt=0.2).settings.plan(20).threshold == 11


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"num_shares": 1.0, "reconstruction_threshold": 2}, "not more than half"),
        ({"num_shares": 1.0, "reconstruction_threshold": 0.4}, "not more than half"),
        ({"num_shares": 3, "reconstruction_threshold": 1}, "not more than half"),
        # 2t > k + 1, but 2 of 5 nodes corrupt fill a neighbourhood of 2 far too often.
        ({"num_shares": 3, "reconstruction_threshold": 2, "corrupt": 0.45}, "corrupt neighbours"),
    ],
)
def test_a_weak_threshold_is_refused_before_any_message(
    kwargs: dict[str, object], why: str
) -> None:
    grid = local_grid()
    context = legacy_context(grid)
    wf = SecAggWorkflow(max_weight=1.0, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(WeakThresholdError, match=why) as info:
        run_round(wf, grid, context, 1)
    assert "allow_weak_threshold=True" in str(info.value)
    assert grid.messages_sent == 0


def test_a_weak_threshold_runs_only_where_the_server_and_every_node_allow_it() -> None:
    # The server opts out, the nodes do not: every node refuses the configuration.
    grid = local_grid()
    context = legacy_context(grid)
    wf = workflow(threshold=2, allow_weak_threshold=True)
    before = run_round(wf, grid, context, 1)
    report = wf.reports[-1]
    assert (report.status, report.reason) == ("aborted", "BELOW_THRESHOLD")
    assert report.refusals == dict.fromkeys(NODES, "CONFIG_REFUSED")
    assert all(not a.any() for a in before)
    # Both opt out: the round runs with t = 2 of 5.
    grid = local_grid(node_config=lambda i: {"secagg-allow-weak-threshold": True})
    context = legacy_context(grid)
    model = run_round(wf, grid, context, 1)
    assert wf.reports[-1].status == "completed"
    assert wf.reports[-1].threshold == 2
    assert_model(model, mean_of(range(len(NODES)), 1))


def test_a_modulus_too_small_for_the_nodes_cancels_nothing_but_is_refused() -> None:
    wf = SecAggWorkflow(num_shares=1.0, reconstruction_threshold=3, modulus_range=1 << 24)
    grid = local_grid()
    context = legacy_context(grid)
    with pytest.raises(ValueError, match="could wrap"):
        run_round(wf, grid, context, 1)  # 5 nodes x 2^22 does not fit 2^24
