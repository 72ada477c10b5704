"""`feedd serve`, `feedd build`, `feedd check`: thin commands over the modules."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from feedd import __version__
from feedd.config import Settings, SettingsError, load_settings, setting_help
from feedd.library.library import Library, article_loader, open_library
from feedd.library.reading import display_path
from feedd.publish.folder import write_site
from feedd.render.listings import ListingRenderer, listing
from feedd.render.pages import PageRenderer
from feedd.render.renderer import Renderer
from feedd.render.site import Resource

log = logging.getLogger("feedd")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        settings = _settings(args)
    except SettingsError as error:
        log.error("%s", error)
        return 2
    return int(args.command(settings, args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feedd", description="Publish a folder of plain-text articles as feeds."
    )
    parser.add_argument("--version", action="version", version=f"feedd {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="watch the folder and serve the site over HTTP")
    serve.set_defaults(command=_serve)
    build = commands.add_parser("build", help="write the whole site into a folder, once")
    build.add_argument(
        "--out", type=Path, default=Path("site"), help="output folder (default: site)"
    )
    build.set_defaults(command=_build)
    check = commands.add_parser("check", help="report the files that are not published, and why")
    check.add_argument(
        "folder", nargs="?", type=Path, help="the folder to check (default: --seeds)"
    )
    check.set_defaults(command=_check)

    for sub in (serve, build, check):
        sub.add_argument("--config", type=Path, help="TOML settings file (or FEEDD_CONFIG)")
        sub.add_argument("-v", "--verbose", action="store_true", help="log per-file detail")
        for name, (default, help_text) in setting_help().items():
            flag = "--" + name.replace("_", "-")
            if isinstance(default, bool):
                sub.add_argument(
                    flag, action=argparse.BooleanOptionalAction, default=None, help=help_text
                )
            else:
                sub.add_argument(
                    flag, dest=name, metavar=name.upper(), default=None, help=help_text
                )
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {name: getattr(args, name) for name in setting_help()}
    if getattr(args, "folder", None) is not None:
        overrides["seeds"] = args.folder
    return load_settings(args.config, os.environ, overrides)


def _configure_logging(verbose: bool) -> None:
    # journald stamps each line itself; JOURNAL_STREAM says stderr goes there.
    stamp = "" if "JOURNAL_STREAM" in os.environ else "%(asctime)s "
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format=stamp + "%(levelname)s %(message)s",
        stream=sys.stderr,
    )


def _scan(settings: Settings) -> Library | None:
    if not settings.seeds.is_dir():
        log.error("%s: not a folder", settings.seeds)
        return None
    library = open_library(settings, os.environ)
    library.scan(_progress_bar("reading"))
    library.save()
    return library


def _progress_bar(doing: str) -> Callable[[int, int], None] | None:
    """A one-line bar on stderr for long runs, when stderr is a terminal (never in logs)."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        if total < 2000:
            return
        width = 30
        filled = width * done // total
        sys.stderr.write(
            f"\r{doing} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} files"
        )
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def _build(settings: Settings, args: argparse.Namespace) -> int:
    library = _scan(settings)
    if library is None:
        return 2
    for path, reason in sorted(library.rejected.items()):
        log.warning("rejected %s: %s", display_path(path), reason)
    site = Renderer(settings).site(library)
    listings = ListingRenderer(settings, article_loader(settings))

    def render_listing(path: str) -> Resource | None:
        found = listing(site, path, settings)
        return listings(found) if found is not None else None

    try:
        stats = write_site(
            site,
            args.out,
            PageRenderer(settings, article_loader(settings)),
            _progress_bar("writing"),
            render_listing,
        )
    except OSError as error:
        log.error(
            "cannot write %s: %s (the feeds and index still describe the previous site)",
            args.out,
            error,
        )
        return 1
    log.info(
        "built %s: %d articles, %d rejected; %d files written, %d unchanged, %d removed",
        args.out,
        site.articles,
        site.rejected,
        stats.written,
        stats.unchanged,
        stats.removed,
    )
    return 0


def _check(settings: Settings, args: argparse.Namespace) -> int:
    library = _scan(settings)
    if library is None:
        return 2
    out = sys.stdout
    warned = 0
    for path in sorted(set(library.rejected) | set(library.warnings)):
        if path in library.rejected:
            out.write(f"{display_path(path)}: {library.rejected[path]}\n")
        for warning in library.warnings.get(path, ()):
            out.write(f"{display_path(path)}: warning: {warning}\n")
            warned += 1
    out.write(
        f"{len(library.entries)} published, {len(library.rejected)} rejected, "
        f"{warned} warnings in {settings.seeds}\n"
    )
    return 1 if library.rejected else 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from feedd.serve.daemon import run  # aiohttp loads only for the daemon

    return run(settings, reload_settings=lambda: _settings(args))
