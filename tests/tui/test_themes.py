"""Theme files: the shipped three load and read well; every broken file is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App
from textual.color import Color

from gridtui.tui.themes import BUNDLED_THEMES_DIR, ThemeError, load_theme, load_themes

SHIPPED = {"gridtui-dark": True, "gridtui-light": False, "gridtui-high-contrast": True}
GOOD = 'name = "mine"\nprimary = "#336699"\n'


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two colours."""

    def luminance(colour: str) -> float:
        def channel(value: int) -> float:
            v = value / 255
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        c = Color.parse(colour)
        return 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b)

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_three_shipped_themes_load() -> None:
    themes, errors = load_themes([BUNDLED_THEMES_DIR])
    assert errors == []
    assert {t.name: t.dark for t in themes} == SHIPPED
    assert [t.name for t in themes] == sorted(SHIPPED)
    assert BUNDLED_THEMES_DIR == Path(__file__).resolve().parents[2] / "themes"


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_theme_text_colours_are_readable(name: str) -> None:
    theme = load_theme(BUNDLED_THEMES_DIR / f"{name}.toml")
    minimum = 7.0 if name == "gridtui-high-contrast" else 4.5  # WCAG AAA / AA
    for ground in (theme.background, theme.surface):
        assert ground is not None
        for key in ("foreground", "primary", "accent", "warning", "error", "success"):
            colour = getattr(theme, key)
            assert colour is not None
            assert contrast(colour, ground) >= minimum, (key, colour, ground)


def test_high_contrast_is_pure_black_and_white() -> None:
    theme = load_theme(BUNDLED_THEMES_DIR / "gridtui-high-contrast.toml")
    assert (theme.background, theme.surface, theme.foreground) == ("#000000", "#000000", "#ffffff")


async def test_shipped_themes_apply_to_an_app() -> None:
    app = App[None]()
    async with app.run_test() as pilot:
        for theme in load_themes([BUNDLED_THEMES_DIR])[0]:
            app.register_theme(theme)
            app.theme = theme.name
            await pilot.pause()
            variables = app.get_css_variables()
            assert Color.parse(variables["primary"]) == Color.parse(theme.primary)
            for key, value in theme.variables.items():
                assert variables[key] == value


def test_a_good_file_maps_every_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "full.toml",
        GOOD + 'dark = false\nsuccess = "green"\nerror = "rgb(200, 0, 0)"\n'
        '[variables]\nfooter-key-foreground = "#ff0000"\n',
    )
    theme = load_theme(path)
    assert (theme.name, theme.primary, theme.dark) == ("mine", "#336699", False)
    assert (theme.success, theme.error) == ("green", "rgb(200, 0, 0)")
    assert theme.variables == {"footer-key-foreground": "#ff0000"}
    assert load_theme(write(tmp_path, "min.toml", GOOD)).dark is True


BROKEN = {
    "syntax": ('name = "x"\nprimary = #123\n', ["TOML syntax error", "line 2", "column"]),
    "no-name": ('primary = "#123456"\n', ["missing required key 'name'"]),
    "no-primary": ('name = "x"\n', ["missing required key 'primary'"]),
    "unknown": (GOOD + 'primry = "#fff"\n', ["unknown key 'primry'", "allowed:", "primary"]),
    "colour": (GOOD + 'success = "not-a-colour"\n', ["bad colour for 'success'", "not-a-colour"]),
    "colour-type": (GOOD + "error = 12\n", ["'error' must be a colour string"]),
    "dark": (GOOD + 'dark = "yes"\n', ["'dark' must be true or false"]),
    "name": ('name = ""\nprimary = "#fff"\n', ["'name' must be a non-empty string"]),
    "variables": (GOOD + "variables = 3\n", ["[variables] must be a table"]),
    "variable": (GOOD + "[variables]\nborder = 1\n", ["variable 'border' must be a string"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_broken_file_gives_a_one_line_message_naming_it(tmp_path: Path, case: str) -> None:
    text, fragments = BROKEN[case]
    path = write(tmp_path, f"{case}.toml", text)
    with pytest.raises(ThemeError) as caught:
        load_theme(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message


def test_an_unreadable_file_is_a_theme_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'name = "caf\xe9"\nprimary = "#fff"\n')
    with pytest.raises(ThemeError, match="cannot read"):
        load_theme(path)


def test_broken_files_do_not_stop_the_good_ones(tmp_path: Path) -> None:
    write(tmp_path, "b-good.toml", 'name = "zeta"\nprimary = "#123456"\n')
    write(tmp_path, "a-good.toml", 'name = "alpha"\nprimary = "#654321"\n')
    write(tmp_path, "c-broken.toml", "name = \n")
    write(tmp_path, "d-broken.toml", GOOD + 'accent = "nope"\n')
    write(tmp_path, "notes.txt", "not a theme")
    themes, errors = load_themes([tmp_path, tmp_path / "missing"])
    assert [t.name for t in themes] == ["alpha", "zeta"]
    assert len(errors) == 2
    assert "c-broken.toml" in errors[0] and "d-broken.toml" in errors[1]


def test_a_later_folder_overrides_and_a_duplicate_in_one_folder_is_reported(
    tmp_path: Path,
) -> None:
    bundled, user = tmp_path / "bundled", tmp_path / "user"
    bundled.mkdir()
    user.mkdir()
    write(bundled, "dark.toml", 'name = "dark"\nprimary = "#111111"\n')
    write(user, "dark.toml", 'name = "dark"\nprimary = "#222222"\n')
    write(user, "dark-again.toml", 'name = "dark"\nprimary = "#333333"\n')
    themes, errors = load_themes([bundled, user])
    # Files are read in name order: dark-again.toml first, so dark.toml is the duplicate.
    assert [(t.name, t.primary) for t in themes] == [("dark", "#333333")]
    assert len(errors) == 1
    assert errors[0].startswith(f"{user / 'dark.toml'}: ") and "dark-again.toml" in errors[0]
