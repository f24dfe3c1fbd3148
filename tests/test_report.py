"""Tests for mnist_kmeans.report: the report folder, summary.json, report.html, safe replacement."""

from __future__ import annotations

import base64
import json
import math
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from mnist_kmeans import plotting, report_html
from mnist_kmeans.analysis import Analysis, analyze_studies
from mnist_kmeans.evaluation import evaluate_clusters
from mnist_kmeans.neighbors import nearest_members
from mnist_kmeans.report import check_output_dir, environment, write_report
from mnist_kmeans.study import StudyResult, run_study

N_ROWS = 800
N_NEAREST = 4
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data(mnist_sample: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    images, labels = mnist_sample
    return images[:N_ROWS].reshape(-1, 28, 28), labels[:N_ROWS]


@pytest.fixture(scope="module")
def studies(data: tuple[np.ndarray, np.ndarray]) -> list[StudyResult]:
    X = data[0].reshape(N_ROWS, -1)
    return [run_study(X, 3, 3, random_state=1), run_study(X, 2, 2, random_state=1)]


def analyze(studies, images, labels=None, n_nearest=N_NEAREST) -> Analysis:
    """As the command line analyses MNIST: all ten digits are classes."""
    return analyze_studies(studies, images, labels, classes=np.arange(10), n_nearest=n_nearest)


@pytest.fixture(scope="module")
def written(tmp_path_factory, data, studies) -> Path:
    out = tmp_path_factory.mktemp("reports") / "report"
    images, labels = data
    return write_report(out, analyze(studies, images, labels), params={"note": "test"}).folder


def _strict_json(path: Path) -> dict:
    def no_constants(name: str) -> None:
        raise AssertionError(f"{name} is not valid JSON")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=no_constants)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_files(written: Path) -> None:
    assert written.is_absolute()
    assert (written / "report.html").is_file() and (written / "summary.json").is_file()
    names = sorted(p.name for p in (written / "figures").iterdir())
    for prefix in ("k3", "k2"):
        for key in ("centers_best", "centers_worst", "j_clust_history", "nearest_best",
                    "nearest_worst", "contingency_best", "restarts"):
            assert f"{prefix}_{key}.png" in names
    # nothing left beside the report
    assert [p.name for p in written.parent.iterdir()] == [written.name]


def test_summary_agrees_with_the_studies(written: Path, data, studies) -> None:
    summary = _strict_json(written / "summary.json")
    images, labels = data
    assert summary["parameters"] == {"note": "test"}
    assert summary["data"] == {
        "n_samples": N_ROWS, "n_features": 784, "image_shape": [28, 28], "labels_known": True
    }
    assert [row["n_clusters"] for row in summary["comparison"]] == [3, 2]
    for entry, row, study in zip(summary["studies"], summary["comparison"], studies):
        assert entry["runs"]["j_clust"] == study.j_clust.tolist()
        assert entry["runs"]["seed"] == study.seeds.tolist()
        assert entry["best"]["index"] == study.best_index
        assert row["j_clust_min"] == study.best.j_clust <= min(entry["runs"]["j_clust"])
        assert row["j_clust_max"] == study.worst.j_clust >= max(entry["runs"]["j_clust"])
        assert row["elapsed_seconds"] == study.elapsed
        X = images.reshape(N_ROWS, -1)
        for which, run in (("best", study.best), ("worst", study.worst)):
            nearest = nearest_members(X, run.labels, run.centers, N_NEAREST)
            expected = evaluate_clusters(labels, run.labels, study.n_clusters, nearest,
                                         classes=np.arange(10)).to_dict()
            assert entry[which]["evaluation"] == expected
            assert entry[which]["nearest_members"]["indices"] == nearest.indices.tolist()
        assert row["best_purity"] == entry["best"]["evaluation"]["purity"]
        assert row["best_nearest_mode_accuracy"] == (
            entry["best"]["evaluation"]["nearest"]["mode_accuracy"]
        )
        for name in entry["figures"].values():
            assert (written / name).is_file()


def test_environment_is_recorded(written: Path) -> None:
    env = _strict_json(written / "summary.json")["environment"]
    for key in ("mnist_kmeans", "numpy", "scikit_learn", "python", "kernel_isa",
                "openmp_max_threads", "platform"):
        assert env[key] not in (None, ""), key
    assert env["kernel_isa"] in env["kernel_isas_available"]
    assert environment()["kernel_isa"] == env["kernel_isa"]


def test_html_is_self_contained(written: Path) -> None:
    page = (written / "report.html").read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(page)
    images = [attrs for tag, attrs in parser.tags if tag == "img"]
    assert len(images) == len(list((written / "figures").iterdir()))
    for attrs in images:
        src = attrs["src"] or ""
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        png = base64.b64decode(src[len(prefix):], validate=True)
        assert png.startswith(PNG_SIGNATURE)
        assert attrs.get("alt")
    # nothing is fetched from elsewhere
    for tag, attrs in parser.tags:
        assert tag not in ("link", "script", "iframe")
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert value.startswith(("data:", "#")) or not value, (tag, value)


def test_html_holds_the_numbers(written: Path, studies) -> None:
    page = (written / "report.html").read_text(encoding="utf-8")
    for study in studies:
        for value in study.j_clust:
            assert f"{value:,.1f}" in page
        for seed in study.seeds:
            assert str(int(seed)) in page
    assert "Side by side" in page  # more than one study
    row = _strict_json(written / "summary.json")["comparison"][0]
    assert f"{N_NEAREST}-nearest accuracy, best run, most common digit" in page
    assert f"{100 * row['best_nearest_mode_accuracy']:.1f}%" in page


def test_without_labels(tmp_path: Path, data, studies) -> None:
    images, _ = data
    out = write_report(tmp_path / "r", analyze(studies[1:], images.reshape(N_ROWS, -1),
                                              n_nearest=2), params={}).folder
    summary = _strict_json(out / "summary.json")
    entry = summary["studies"][0]
    assert entry["best"]["evaluation"] is None
    assert "contingency_best" not in entry["figures"]
    assert summary["comparison"][0]["best_purity"] is None
    assert "not available" in (out / "report.html").read_text(encoding="utf-8")


def test_existing_report_is_kept_without_force(tmp_path: Path, data, studies) -> None:
    images, labels = data
    out = tmp_path / "r"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    analysis = analyze(studies[1:], images, labels)
    with pytest.raises(FileExistsError):
        write_report(out, analysis, params={})
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    # even with force, a folder that is not a report is not replaced
    with pytest.raises(FileExistsError, match="not replacing"):
        write_report(out, analysis, params={}, force=True)
    assert (out / "mine.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_an_empty_folder_is_used(tmp_path: Path, data, studies) -> None:
    images, labels = data
    (tmp_path / "r").mkdir()
    out = write_report(tmp_path / "r", analyze(studies[1:], images, labels, n_nearest=2),
                       params={}).folder
    assert (out / "summary.json").is_file()


def test_force_replaces_an_old_report(tmp_path: Path, data, studies) -> None:
    images, labels = data
    out = tmp_path / "r"
    analysis = analyze(studies[1:], images, labels, n_nearest=2)
    write_report(out, analysis, params={"run": 1})
    with pytest.raises(FileExistsError):
        write_report(out, analysis, params={"run": 2})
    assert _strict_json(out / "summary.json")["parameters"] == {"run": 1}
    write_report(out, analysis, params={"run": 2}, force=True)
    assert _strict_json(out / "summary.json")["parameters"] == {"run": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no temporary or old folder


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, OSError])
def test_a_failure_leaves_no_half_written_report(tmp_path: Path, data, studies, monkeypatch,
                                                 interrupt: type) -> None:
    images, labels = data
    out = tmp_path / "r"
    analysis = analyze(studies[1:], images, labels, n_nearest=2)
    write_report(out, analysis, params={"run": 1})
    save = plotting.save_figure

    def failing_save(fig, path, **kwargs):
        # fails at the third figure, after two were written
        if "j_clust_history" in Path(path).name:
            raise interrupt("stop")
        return save(fig, path, **kwargs)

    monkeypatch.setattr(plotting, "save_figure", failing_save)
    with pytest.raises(interrupt):
        write_report(out, analysis, params={"run": 2}, force=True)
    with pytest.raises(interrupt):
        write_report(tmp_path / "new", analysis, params={})
    # the old report is whole, the new one was never created, no temporary folder is left
    assert _strict_json(out / "summary.json")["parameters"] == {"run": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_check_output_dir(tmp_path: Path) -> None:
    assert check_output_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError):
        check_output_dir(tmp_path / "file", force=True)
    with pytest.raises(NotADirectoryError):
        check_output_dir(tmp_path / "file" / "report")


def test_mismatched_inputs(tmp_path: Path, data, studies) -> None:
    images, labels = data
    # refused by the analysis, before the report could be written
    with pytest.raises(ValueError, match="ran on data"):
        write_report(tmp_path / "r", analyze(studies, images[:10]), params={})
    with pytest.raises(ValueError, match="y_true"):
        write_report(tmp_path / "r", analyze(studies, images, labels[:10]), params={})
    with pytest.raises(ValueError, match="square"):
        write_report(tmp_path / "r", analyze(studies, np.zeros((N_ROWS, 785))), params={})
    with pytest.raises(ValueError, match="at least one"):
        write_report(tmp_path / "r", analyze([], images), params={})
    assert list(tmp_path.iterdir()) == []


def test_number_formatting() -> None:
    assert report_html._num(None) == "&ndash;"
    assert report_html._num(math.nan, "pct") == "&ndash;"
    assert report_html._num(0.1234, "pct") == "12.3%"
    assert report_html._num(1234567.891, "obj") == "1,234,567.9"
    assert report_html._num(True) == "yes"


def _paragraphs(page: str, css_class: str) -> list[str]:
    """The text of every <p class=css_class> of the page, tags removed."""
    import re

    found = re.findall(rf'<p class="{css_class}">(.*?)</p>', page, flags=re.S)
    return [re.sub(r"<[^>]+>", "", text) for text in found]


def test_page_explains_inertia_against_j_clust_with_each_studys_numbers(written: Path,
                                                                        studies) -> None:
    page = (written / "report.html").read_text(encoding="utf-8")
    summary = _strict_json(written / "summary.json")
    notes = _paragraphs(page, "note")
    # one note per study (its own section, after its scores), and one under the side-by-side
    assert len(notes) >= len(studies)
    for study, entry in zip(studies, summary["studies"]):
        best, worst = entry["best"], entry["worst"]
        # counted here, independently of the code under test
        rises = [sum(1 for a, b in zip(h, h[1:]) if b > a)
                 for h in (best["j_clust_history"], worst["j_clust_history"])]
        assert best["j_clust_rises"] == rises[0] and worst["j_clust_rises"] == rises[1]
        # Lloyd's iterations never raise the sum of squares
        assert best["inertia_rises"] == 0 and worst["inertia_rises"] == 0
        purity = best["evaluation"]["purity"], worst["evaluation"]["purity"]
        mine = [n for n in notes
                if f"rose at {rises[0]} of the best run's {best['n_iter']} iterations" in n
                and f"at {rises[1]} of the worst run's {worst['n_iter']}" in n]
        assert len(mine) == 1, notes
        note = mine[0]
        assert "minimises the inertia, not J_clust" in note and "never rose" in note
        assert f"purity {purity[0]:.4f}" in note and f"{purity[1]:.4f}" in note
        assert ("here it does" in note) == (purity[0] < purity[1])
        lowest_inertia = int(np.argmin(entry["runs"]["inertia"]))
        assert (f"the best would be restart {lowest_inertia}" in note) == (
            lowest_inertia != best["index"])


def test_captions_say_what_the_tiles_are(written: Path) -> None:
    page = (written / "report.html").read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(page)
    alts = [attrs["alt"] or "" for tag, attrs in parser.tags if tag == "img"]
    centers = [a for a in alts if a.startswith("Cluster representatives")]
    assert len(centers) == 4  # best and worst of two studies
    for alt in centers:
        assert "Each tile is the mean image of one cluster" in alt
        assert "majority digit and that digit's share" in alt
        assert "row" in alt and "cluster 0 at the top left" in alt
    nearest = [a for a in alts if a.startswith(f"The {N_NEAREST} images nearest")]
    assert len(nearest) == 4
    for alt in nearest:
        assert "the first tile is the representative" in alt and "majority digit" in alt


def test_numbers_on_the_page_are_written_one_way(written: Path, studies) -> None:
    page = (written / "report.html").read_text(encoding="utf-8")
    import re

    text = re.sub(r'src="data:[^"]*"', "", page)  # not the embedded pictures
    assert not re.search(r"\d\.\d+e[+-]\d", text)  # no exponent anywhere
    assert f"{N_ROWS:,} images" in text
    for study in studies:
        assert f"{study.best.j_clust:,.1f}" in text and f"{study.best.inertia:,.1f}" in text


def test_every_table_scrolls_inside_its_box_on_a_narrow_screen(written: Path) -> None:
    page = (written / "report.html").read_text(encoding="utf-8")
    assert page.count("<table") == page.count('<div class="scroll"><table') > 0
    css = page[page.index("<style>"):page.index("</style>")]
    assert ".scroll { overflow-x: auto" in css and "@media (max-width: 600px)" in css


def test_more_nearest_images_than_a_figure_shows_is_refused(tmp_path: Path, data,
                                                            studies) -> None:
    images, labels = data
    analysis = analyze(studies[1:], images, labels, n_nearest=plotting.MAX_NEAREST_SHOWN + 1)
    with pytest.raises(ValueError, match=f"at most {plotting.MAX_NEAREST_SHOWN}"):
        write_report(tmp_path / "r", analysis, params={})
    assert list(tmp_path.iterdir()) == []
