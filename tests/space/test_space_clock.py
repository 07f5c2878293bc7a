"""The replay clock (it runs the whole pipeline) is no public API and needs explicit local mode."""

from __future__ import annotations

from pathlib import Path

from space.app import SpaceApp
from space.clients import Clients, SpaceConfig


def test_the_clock_is_off_unless_local_mode_is_explicit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    implicit = SpaceConfig.from_env({"SEONGSU_WAREHOUSE_URL": url})  # no Supabase: reads the warehouse
    assert implicit.warehouse_url == url and implicit.bento_url  # still a working local Space...
    assert not implicit.local and not Clients.from_config(implicit).clock.enabled  # ...without the clock
    explicit = SpaceConfig.from_env({"SEONGSU_WAREHOUSE_URL": url, "SEONGSU_SPACE_LOCAL": "1"})
    assert explicit.local and Clients.from_config(explicit).clock.enabled


def test_the_clock_is_not_a_public_gradio_api(tmp_path: Path) -> None:
    config = SpaceConfig(warehouse_url=f"sqlite:///{tmp_path / 'warehouse.sqlite'}", local=True)
    demo = SpaceApp(Clients.from_config(config)).build()
    public = {d.get("api_name") for d in demo.config["dependencies"] if d.get("api_visibility") == "public"}
    assert "forecast" in public  # the read-only endpoints stay public
    assert not any(name and "clock" in name for name in public), public
    assert "advance_clock" not in demo.get_api_info()["named_endpoints"].__repr__()
