from pathlib import Path

from bookpay_devstack.import_rules import violations


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_service_importing_another_is_reported(tmp_path: Path) -> None:
    write(
        tmp_path,
        "services/charge-service/src/charge_service/x.py",
        "from booking_service import domain\n",
    )
    write(
        tmp_path,
        "services/booking-service/src/booking_service/y.py",
        "import bookpay_shared.events\n",
    )
    write(tmp_path, "shared/src/bookpay_shared/z.py", "import link_service.main\n")
    assert violations(tmp_path) == [
        "services/charge-service/src/charge_service/x.py:1: charge_service imports booking_service",
        "shared/src/bookpay_shared/z.py:1: bookpay_shared imports link_service.main",
    ]


def test_the_repository_follows_the_rule() -> None:
    assert violations(Path(__file__).resolve().parents[2]) == []
