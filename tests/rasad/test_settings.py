"""Settings: shipped defaults, a user file, environment overrides, clear errors, masked secrets."""

from __future__ import annotations

import pytest

from rasad.core.settings import SettingsError, load_settings


def test_defaults_then_file_then_environment(tmp_path):
    user = tmp_path / "rasad.yaml"
    user.write_text("index_prefix: fromfile\nsmtp_port: 2525\n")
    s = load_settings(env={"RASAD_CONFIG": str(user), "RASAD_SMTP_PORT": "2626", "RASAD_ES_URL": "http://127.0.0.1:9999"})
    assert s.index_prefix == "fromfile"  # file over defaults
    assert s.smtp_port == 2626  # environment over file
    assert s.es_url == "http://127.0.0.1:9999"
    assert s.index("articles") == "fromfile-articles"
    # No silent default cluster: a process not told where to write refuses to.
    assert load_settings(env={}).es_url is None


def test_no_cluster_configured_is_a_clear_error_not_a_write_to_9200():
    from rasad.core.es import make_client

    with pytest.raises(SettingsError, match=r"RASAD_ES_URL.*rasad_elasticsearch"):
        make_client(load_settings(env={}))


def test_airflow_connections_supply_cluster_and_mail_and_rasad_variables_win():
    env = {"AIRFLOW_CONN_RASAD_ELASTICSEARCH": "http://elastic:pw%21@es.internal:9201",
           "AIRFLOW_CONN_RASAD_SMTP": "smtp://mail.internal:587"}  # fmt: skip
    s = load_settings(env=env)
    assert (s.es_url, s.es_user, s.es_password) == ("http://es.internal:9201", "elastic", "pw!")
    assert s.smtp_conn_id == "rasad_smtp"
    s2 = load_settings(env={**env, "RASAD_ES_URL": "http://127.0.0.1:9999", "RASAD_SMTP_CONN_ID": "other"})
    assert s2.es_url == "http://127.0.0.1:9999" and s2.smtp_conn_id == "other"
    assert "pw!" not in repr(s.public())
    with pytest.raises(SettingsError, match="AIRFLOW_CONN_RASAD_ELASTICSEARCH"):
        load_settings(env={"AIRFLOW_CONN_RASAD_ELASTICSEARCH": '{"conn_type": '})


def test_bad_values_name_the_key_and_where_it_came_from(tmp_path):
    with pytest.raises(SettingsError, match=r"RASAD_SMTP_PORT.*smtp_port = 'abc'"):
        load_settings(env={"RASAD_SMTP_PORT": "abc"})
    with pytest.raises(SettingsError, match=r"RASAD_CLAIM_LEASE: claim_lease = '0' is not valid .*greater than or equal to 3"):
        load_settings(env={"RASAD_ES_URL": "http://127.0.0.1:9200", "RASAD_CLAIM_LEASE": "0"})
    with pytest.raises(SettingsError, match="RASAD_ALLOW_PRIVATE_NETWORKS"):
        load_settings(env={"RASAD_ALLOW_PRIVATE_NETWORKS": "maybe"})
    bad = tmp_path / "bad.yaml"
    bad.write_text("no_such_setting: 1\n")
    with pytest.raises(SettingsError, match=r"no_such_setting.*bad\.yaml"):
        load_settings(env={"RASAD_CONFIG": str(bad)})
    with pytest.raises(SettingsError, match="not a file"):
        load_settings(env={"RASAD_CONFIG": str(tmp_path / "missing.yaml")})


def test_secrets_are_masked_in_public_view():
    s = load_settings(env={"RASAD_ES_PASSWORD": "hunter2", "RASAD_SMTP_PASSWORD": "s3cret"})
    pub = s.public()
    assert pub["es_password"] == "***" and pub["smtp_password"] == "***"
    assert "hunter2" not in repr(pub) and "s3cret" not in repr(pub)
    assert s.es_password == "hunter2"
