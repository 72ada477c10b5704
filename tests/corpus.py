# Text in other scripts is the point here, confusable letters and all.
# ruff: noqa: RUF001
"""A folder of varied and hostile files, and what feedd must make of each of them.

`build(root)` writes it and returns a `Corpus` saying which files are articles (with the fields
a reader must get back), which are rejected (with a fragment of the reason) and which must be
skipped silently. Tests use it for the library, `feedd build` and `feedd check` alike.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

MiB = 1024 * 1024
REAL_SEED = Path(__file__).resolve().parent.parent / "seeds" / "000_1a328842afac22b4.txt"


@dataclass(frozen=True)
class Expected:
    """What a reader must find for one article."""

    title: str
    first_paragraph: str
    author: str | None = None
    source: str | None = None
    published: datetime | None = None  # None: dated by the file's mtime
    warns: bool = False


@dataclass
class Corpus:
    root: Path
    good: dict[str, Expected] = field(default_factory=dict)
    bad: dict[str, str] = field(default_factory=dict)  # path -> fragment of the reason
    skipped: set[str] = field(default_factory=set)  # paths that must never appear anywhere
    outside: Path | None = None  # a folder beside root that symlinks point into

    def write(self, relative: str, data: bytes | str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def article(self, relative: str, expected: Expected, data: bytes | str) -> None:
        self.write(relative, data)
        self.good[relative] = expected

    def reject(self, relative: str, reason: str, data: bytes | str) -> None:
        self.write(relative, data)
        self.bad[relative] = reason

    def skip(
        self, relative: str, data: bytes | str = "date 2021-01-01 X\nSkipped\n\nBody.\n"
    ) -> None:
        self.write(relative, data)
        self.skipped.add(relative)

    def symlink(self, relative: str, target: str | Path) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)


def utc(*args: int) -> datetime:
    from datetime import UTC

    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def article_text(title: str, body: str, header: str = "date 2021-03-04 Test Wire") -> str:
    return f"{header}\n{title}\n\n{body}\n"


def build(root: Path, *, special_files: bool = True) -> Corpus:
    """Write the hostile corpus into `root` (created) and a sibling `outside` folder.

    `special_files` adds a FIFO and a character device (device only when allowed, as root).
    """
    root.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(root)
    _good(corpus)
    _bad(corpus)
    _not_candidates(corpus, special_files=special_files)
    return corpus


def _good(c: Corpus) -> None:
    c.article(
        "000_1a328842afac22b4.txt",
        Expected(
            title="China's Foreign Minister Hails Prospects Of Strategic Cooperation With "
            "Russia As Limitless",
            first_paragraph="MOSCOW (UrduPoint News / Sputnik - 02nd January, 2021) China and",
            author="Faizan Hashmi",
            source="UrduPoint.com",
            published=utc(2021, 1, 2, 11, 0),
        ),
        REAL_SEED.read_bytes(),
    )
    c.article(
        "اردو/پاکستان کی خبریں.txt",
        Expected(
            title="وزیراعظم نے نئے منصوبے کا اعلان کر دیا",
            first_paragraph="اسلام آباد: وزیراعظم نے آج ایک نئے ترقیاتی منصوبے کا اعلان کیا۔",
            author="احمد علی",
            source="UrduPoint.com",
            published=utc(2021, 1, 5, 14, 30),
        ),
        "date 2021-01-05 UrduPoint.com\n"
        "وزیراعظم نے نئے منصوبے کا اعلان کر دیا\n\n"
        "احمد علی 2 hours ago Tue 05th January 2021 | 02:30 PM\n\n"
        "اسلام آباد: وزیراعظم نے آج ایک نئے ترقیاتی منصوبے کا اعلان کیا۔\n\n"
        "دوسرا پیراگراف۔\n",
    )
    c.article(
        "новости/Москва сегодня.txt",
        Expected(
            title="В Москве открылась новая станция метро",
            first_paragraph="МОСКВА, 6 января. Сегодня утром открылась станция «Новая».",
            source="ТАСС",
            published=utc(2021, 1, 6),
        ),
        article_text(
            "В Москве открылась новая станция метро",
            "МОСКВА, 6 января. Сегодня утром открылась станция «Новая».\n\nВторой абзац.",
            "date 2021-01-06 ТАСС",
        ),
    )
    c.article(
        "中文 新闻/北京.txt",
        Expected(
            title="北京举行新闻发布会",
            first_paragraph="新华社北京1月7日电 今天上午，外交部举行例行新闻发布会。",
            source="新华社",
            published=utc(2021, 1, 7),
        ),
        article_text(
            "北京举行新闻发布会",
            "新华社北京1月7日电 今天上午，外交部举行例行新闻发布会。",
            "date 2021-01-07 新华社",
        ),
    )
    c.article(
        "emoji 🎉 party.txt",
        Expected(
            title="Party time 🎉🥳 at the 🏛️ museum",
            first_paragraph="Everyone 👩‍👩‍👧‍👦 came; 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 beyond the BMP survives.",
            published=utc(2021, 1, 8),
        ),
        article_text(
            "Party time 🎉🥳 at the 🏛️ museum",
            "Everyone 👩‍👩‍👧‍👦 came; 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 beyond the BMP survives.",
            "date 2021-01-08",
        ),
    )
    c.article(
        "crlf.txt",
        Expected(
            title="Windows line endings",
            first_paragraph="First line of the paragraph second line of it.",
            source="Wire",
            published=utc(2021, 1, 9),
        ),
        b"date 2021-01-09 Wire\r\nWindows line endings\r\n\r\n"
        b"First line of the paragraph\r\nsecond line of it.\r\n\r\nSecond paragraph.\r\n",
    )
    c.article(
        "bom.txt",
        Expected(
            title="A file that starts with a byte order mark",
            first_paragraph="The BOM must not end up in the feed.",
            source="Wire",
            published=utc(2021, 1, 10),
        ),
        b"\xef\xbb\xbf"
        + article_text(
            "A file that starts with a byte order mark",
            "The BOM must not end up in the feed.",
            "date 2021-01-10 Wire",
        ).encode(),
    )
    c.article(
        "legacy/cp1252.txt",
        Expected(
            title="“Smart quotes” and café – from Windows",
            first_paragraph="It costs €5 — or so they say.",
            source="Wire",
            published=utc(2021, 1, 11),
            warns=True,
        ),
        article_text(
            "“Smart quotes” and café – from Windows",
            "It costs €5 — or so they say.",
            "date 2021-01-11 Wire",
        ).encode("cp1252"),
    )
    c.article(
        "odd names/a #1? 100% sure.txt",
        Expected(
            title="Names with URL-special characters",
            first_paragraph="Hash, question mark and percent sign in the file name.",
            published=utc(2021, 1, 12),
        ),
        article_text(
            "Names with URL-special characters",
            "Hash, question mark and percent sign in the file name.",
            "date 2021-01-12",
        ),
    )
    c.article(
        "a/b/c/d/deeply nested.txt",
        Expected(
            title="Deep in the tree",
            first_paragraph="Subfolders are walked.",
            source="Wire",
            published=utc(2021, 1, 13),
        ),
        article_text("Deep in the tree", "Subfolders are walked.", "date 2021-01-13 Wire"),
    )
    c.article(
        "markup.txt",
        Expected(
            title="Tom & Jerry: 5 < 6 and 7 > 3",
            first_paragraph="Text <script>alert(1)</script> & more is text, not markup.",
            source="A & B",
            published=utc(2021, 1, 14),
        ),
        article_text(
            "Tom & Jerry: 5 < 6 and 7 > 3",
            "Text <script>alert(1)</script> & more is text, not markup.",
            "date 2021-01-14 A & B",
        ),
    )
    c.article(
        "controls.txt",
        Expected(
            title="Stray controls are dropped",
            first_paragraph="Bell and escape are gone.",
            published=utc(2021, 1, 15),
        ),
        b"date 2021-01-15\nStray \x07controls are dropped\x1b\n\nBell and\x0b escape are gone.\n",
    )
    c.article(
        "headerless.txt",
        Expected(
            title="No date header at all",
            first_paragraph="Dated by the file.",
            warns=True,
        ),
        "No date header at all\n\nDated by the file.\n",
    )
    # A symlink to a file inside the folder is an article of its own (its own path and id).
    c.symlink("link to crlf.txt", "crlf.txt")
    c.good["link to crlf.txt"] = c.good["crlf.txt"]


def _bad(c: Corpus) -> None:
    c.reject("empty.txt", "empty", b"")
    c.reject("blank.txt", "whitespace", b"  \n\t\r\n   \n")
    c.reject("nul.txt", "NUL", b"date 2021-01-01 X\nLooks like text\x00\n\nbut is not.\n")
    c.reject("image.txt", "PNG", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    c.reject("controls-only.txt", "binary", bytes(range(1, 9)) * 200)
    c.reject("header-only.txt", "no headline", "date 2021-01-01 UrduPoint.com\n\n\n")
    c.reject("nested/empty again.txt", "empty", b"")
    c.reject("over/just over.txt", "max_article_bytes", b"a" * (MiB + 1))
    # 30 MB, sparse so it costs nothing to write; must be refused without being read.
    huge = c.write("over/huge 30MB.txt", b"")
    os.truncate(huge, 30 * MiB)
    c.bad["over/huge 30MB.txt"] = "max_article_bytes"


def _not_candidates(c: Corpus, *, special_files: bool) -> None:
    c.skip(".hidden.txt")
    c.skip(".hidden folder/visible name.txt")
    c.skip("sub/.git/objects/x.txt")
    c.skip("notes.txt~")
    c.skip(".#notes.txt")
    c.skip("notes.txt.swp")
    c.skip("notes.tmp")
    c.skip("4913")
    c.skip("#notes.txt#")
    c.skip("readme.md")
    c.skip("NOTES.TXT.bak")

    outside = c.root.parent / (c.root.name + "-outside")
    outside.mkdir(exist_ok=True)
    (outside / "secret.txt").write_text("date 2021-01-01 X\nSecret outside\n\nNever publish.\n")
    (outside / "dir").mkdir(exist_ok=True)
    (outside / "dir" / "also secret.txt").write_text("date 2021-01-01 X\nAlso secret\n\nNo.\n")
    c.outside = outside

    for name, target in {
        "passwd.txt": "/etc/passwd",
        "secret link.txt": outside / "secret.txt",
        "relative escape.txt": f"../{outside.name}/secret.txt",
        "outside folder": outside / "dir",
        "loop.txt": "loop.txt",
        "loop a.txt": "loop b.txt",
        "loop b.txt": "loop a.txt",
        "dangling.txt": "does not exist.txt",
        "a/b/up": "../..",  # a folder symlink back to the root: no infinite walk
        "zero.txt": "/dev/zero",
    }.items():
        c.symlink(name, target)
        c.skipped.add(name)
    c.skipped.update({"outside folder/also secret.txt", "a/b/up/crlf.txt"})

    if special_files:
        os.mkfifo(c.root / "fifo.txt")
        c.skipped.add("fifo.txt")
        os.mkfifo(c.root / "nested" / "pipe.txt")
        c.skipped.add("nested/pipe.txt")
        try:  # /dev/zero's numbers: reading it would never end
            os.mknod(c.root / "device.txt", stat.S_IFCHR | 0o644, os.makedev(1, 5))
        except (PermissionError, OSError):
            pass
        else:
            c.skipped.add("device.txt")
