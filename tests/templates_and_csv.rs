//! The `template` stage (Jinja, on MiniJinja) and the `csv-to-jsonl` stage (the `csv`
//! crate) through the real binary: `baton plugin call` with staged inputs for the language
//! and the formats, and one pipeline that chains the two.

use std::path::PathBuf;

use crate::common::{Project, Run, plugin};

/// Calls the bundled stage `name` on `inputs` (input name and text, each written into the
/// project under its name) with `params`; returns the run and the output directory.
fn call(project: &Project, name: &str, inputs: &[(&str, &str)], params: &str) -> (Run, PathBuf) {
    let out = project.path().join("out");
    let _ = std::fs::remove_dir_all(&out);
    let plugin = plugin(name);
    let mut args = vec![
        "plugin".to_string(),
        "call".to_string(),
        plugin.to_string_lossy().into_owned(),
        "--format".to_string(),
        "json".to_string(),
        "--input".to_string(),
        params.to_string(),
        "--output-dir".to_string(),
        out.to_string_lossy().into_owned(),
    ];
    for (input, text) in inputs {
        let path = project.write(input, text);
        args.push("--stage-input".to_string());
        args.push(format!("{input}={}", path.display()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (project.baton(&args), out)
}

/// Renders `template` (the input `report.md.tmpl`) with `data` inputs and the params'
/// other fields; returns `report.md`.
fn render(data: &[(&str, &str)], template: &str, params: &str) -> String {
    let project = Project::new();
    let mut inputs = data.to_vec();
    inputs.push(("report.md.tmpl", template));
    let params =
        format!(r#"{{"template-input": "report.md.tmpl", "output": "report.md"{params}}}"#);
    let (run, out) = call(&project, "template", &inputs, &params);
    run.expect(0);
    std::fs::read_to_string(out.join("report.md")).unwrap()
}

/// The reason a call failed with.
fn failure(run: Run) -> String {
    let doc = run.expect(30).json();
    doc["failure"]["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("no failure reason in {doc}"))
        .to_string()
}

const PEOPLE: &str = r#"{"name": "Ada", "age": 36, "city": "London"}
{"name": "Grace", "age": 85, "city": "New York"}
{"name": "Tim", "age": 12, "city": "London"}
"#;

#[test]
fn templates_compare_branch_with_elif_and_count_loops() {
    let template = r#"{% for p in inputs["people.jsonl"] %}
{{ loop.index }}/{{ loop.length }} {{ p.name }}: {% if p.age >= 65 %}senior{% elif p.age >= 18 and p.city != "Paris" %}adult{% else %}minor{% endif %}.
{% if loop.first %}
  (first)
{% elif loop.last %}
  (last, after {{ loop.previtem.name }})
{% endif %}
{% endfor %}
{% for p in items if p.city == "London" %}{{ p.name }}{% if not loop.last %} & {% endif %}{% endfor %} live in London.
{{ "yes" if 2 * 3 > 5 else "no" }} {{ 7 // 2 }} {{ 10 % 4 }} {{ "Ada" in items | map(attribute="name") | list }}
"#;
    assert_eq!(
        render(&[("people.jsonl", PEOPLE)], template, ""),
        "1/3 Ada: adult.\n  (first)\n2/3 Grace: senior.\n3/3 Tim: minor.\n  (last, after Grace)\n\
         Ada & Tim live in London.\nyes 3 2 True\n"
    );
}

#[test]
fn templates_filter_with_default_join_length_upper_and_tojson() {
    let template = r#"{{ params.title | upper }} ({{ items | length }} people)
Names: {{ items | map(attribute="name") | join(", ") }}
Owner: {{ inputs["meta.json"].owner | default("nobody") }}, {{ inputs["meta.json"].team | default("none") }}
Note: {{ inputs["meta.json"].note | default("empty", true) }}
Meta: {{ inputs["meta.json"] | tojson }}
First: {{ items | first | tojson }}
Cities: {{ items | map(attribute="city") | unique | sort | join("; ") | lower }}
"#;
    let meta = r#"{"team": "<core>", "note": "", "tags": ["a", "b"], "size": 2.5}"#;
    assert_eq!(
        render(
            &[("people.jsonl", PEOPLE), ("meta.json", meta)],
            template,
            r#", "title": "People report""#
        ),
        "PEOPLE REPORT (3 people)\n\
         Names: Ada, Grace, Tim\n\
         Owner: nobody, <core>\n\
         Note: empty\n\
         Meta: {\"note\": \"\", \"size\": 2.5, \"tags\": [\"a\", \"b\"], \"team\": \"\\u003ccore\\u003e\"}\n\
         First: {\"age\": 36, \"city\": \"London\", \"name\": \"Ada\"}\n\
         Cities: london; new york\n"
    );
}

#[test]
fn templates_define_macros_and_include_and_import_other_template_inputs() {
    let project = Project::new();
    let inputs = [
        ("people.jsonl", PEOPLE),
        (
            "templates/lib.jinja",
            "{% macro row(person, mark='-') %}{{ mark }} {{ person.name }} ({{ person.age }}){% endmacro %}\n",
        ),
        (
            "templates/footer.md.tmpl",
            "---\n{{ params.footer }}: {{ items | length }} rows\n",
        ),
        (
            "templates/report.md.tmpl",
            r#"{% import "templates/lib.jinja" as lib %}
{% from "templates/lib.jinja" import row %}
{% macro older(person) %}{{ person.name }} is {{ person.age + 1 }} next year{% endmacro %}
# People

{% for person in inputs["people.jsonl"] %}
{{ row(person) }}
{{ lib.row(person, mark="*") }}
{% endfor %}
{{ older(items[0]) }}
{% include "templates/missing.md" ignore missing %}
{% include "templates/footer.md.tmpl" %}
"#,
        ),
    ];
    let params = r#"{"template-input": "templates/report.md.tmpl", "output": "report.md", "footer": "Generated"}"#;
    let (run, out) = call(&project, "template", &inputs, params);
    let expected = "# People\n\n- Ada (36)\n* Ada (36)\n- Grace (85)\n* Grace (85)\n- Tim (12)\n\
                    * Tim (12)\nAda is 37 next year\n---\nGenerated: 3 rows\n";
    assert_eq!(
        run.expect(0).json()["result"]["summary"],
        format!(
            "rendered report.md ({} bytes) from 1 data input, 3 items",
            expected.len()
        )
    );
    assert_eq!(
        std::fs::read_to_string(out.join("report.md")).unwrap(),
        expected
    );
    // Template inheritance over inputs too.
    let inputs = [
        (
            "base.tmpl",
            "{% block title %}\n# Untitled\n{% endblock %}\n\n{% block body %}\n{% endblock %}\n(end)\n",
        ),
        (
            "page.tmpl",
            "{% extends \"base.tmpl\" %}\n{% block title %}\n# {{ params.title }}\n{% endblock %}\n",
        ),
    ];
    let params = r#"{"template-input": "page.tmpl", "output": "page.md", "title": "Home"}"#;
    let (run, out) = call(&project, "template", &inputs, params);
    run.expect(0);
    assert_eq!(
        std::fs::read_to_string(out.join("page.md")).unwrap(),
        "# Home\n\n(end)\n"
    );
}

#[test]
fn an_undefined_name_fails_with_the_template_file_and_line() {
    let project = Project::new();
    let template = "# Report\n{% for person in items %}\n- {{ person.nmae }}\n{% endfor %}\n";
    let params = r#"{"template-input": "templates/report.md.tmpl", "output": "report.md"}"#;
    let inputs = [
        ("people.jsonl", PEOPLE),
        ("templates/report.md.tmpl", template),
    ];
    let (run, out) = call(&project, "template", &inputs, params);
    assert_eq!(
        failure(run),
        "template `templates/report.md.tmpl`: line 3, column 6: undefined value: \
         `person.nmae` is undefined"
    );
    assert!(
        !out.join("report.md").exists(),
        "a failed render wrote output"
    );
    // In an included template: that template's line, and where it was included from.
    let inputs = [
        ("people.jsonl", PEOPLE),
        ("main.tmpl", "Header\n\n{% include \"part.tmpl\" %}\n"),
        ("part.tmpl", "{{ items | length }}\n{{ totl }}\n"),
    ];
    let params = r#"{"template-input": "main.tmpl", "output": "report.md"}"#;
    assert_eq!(
        failure(call(&project, "template", &inputs, params).0),
        "template `part.tmpl`: line 2, column 4: undefined value: `totl` is undefined \
         (from template `main.tmpl`: line 3, column 4)"
    );
    // `strict: false` renders what is undefined as nothing, as the old default did.
    let params = r#"{"template-input": "main.tmpl", "output": "report.md", "strict": false}"#;
    let (run, out) = call(&project, "template", &inputs, params);
    run.expect(0);
    assert_eq!(
        std::fs::read_to_string(out.join("report.md")).unwrap(),
        "Header\n\n3\n\n"
    );
}

#[test]
fn template_syntax_errors_and_unknown_includes_name_file_and_line() {
    let project = Project::new();
    let params = r#"{"template": "{% for x in items %}\n{{ x }}\n", "output": "a.md"}"#;
    assert_eq!(
        failure(call(&project, "template", &[], params).0),
        "template `params.template`: line 2, column 8: syntax error: unexpected end of input, \
         expected end of block"
    );
    let params = r#"{"template": "one\n{{ 1 | frobnicate }}", "output": "a.md"}"#;
    assert_eq!(
        failure(call(&project, "template", &[], params).0),
        "template `params.template`: line 2, column 8: unknown filter: filter frobnicate is unknown"
    );
    let inputs = [("people.jsonl", PEOPLE), ("head.tmpl", "Head\n")];
    let params = r#"{"template": "{% include 'header.tmpl' %}", "output": "a.md"}"#;
    assert_eq!(
        failure(call(&project, "template", &inputs, params).0),
        "template `params.template`: line 1, column 4: template not found: tried to include \
         non-existing template 'header.tmpl'; a template can include, import or extend these \
         inputs: `people.jsonl`, `head.tmpl`"
    );
}

/// The JSON Lines a CSV conversion wrote into `out/{stem}.jsonl`, line by line.
fn lines(out: &std::path::Path, stem: &str) -> Vec<String> {
    std::fs::read_to_string(out.join(format!("{stem}.jsonl")))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

/// Converts one CSV text (the input `data/{stem}.csv`) with `params`.
fn convert(stem: &str, csv: &str, params: &str) -> (Run, PathBuf, Project) {
    let project = Project::new();
    let name = format!("data/{stem}.csv");
    let (run, out) = call(&project, "csv-to-jsonl", &[(name.as_str(), csv)], params);
    (run, out, project)
}

#[test]
fn csv_with_a_byte_order_mark_before_a_quoted_header() {
    let (run, out, _project) = convert(
        "bom",
        "\u{feff}\"name\",\"city\"\r\n\"Ada\",\"London\"\r\nGrace,New York\r\n",
        "{}",
    );
    assert_eq!(
        run.expect(0).json()["result"],
        serde_json::json!({"outputs": ["bom.jsonl"], "summary": "1 file, 2 rows"})
    );
    assert_eq!(
        lines(&out, "bom"),
        [
            r#"{"name":"Ada","city":"London"}"#,
            r#"{"name":"Grace","city":"New York"}"#
        ]
    );
}

#[test]
fn csv_line_ends_crlf_cr_and_lf_read_alike_and_count_lines_alike() {
    for (stem, end) in [("crlf", "\r\n"), ("cr", "\r"), ("lf", "\n")] {
        let csv = ["id,text", "1,a", "", "2,\"b", "c\"", "3,d"].join(end) + end;
        let (run, out, _project) = convert(stem, &csv, "{}");
        run.expect(0);
        assert_eq!(
            lines(&out, stem),
            [
                r#"{"id":"1","text":"a"}"#.to_string(),
                format!(r#"{{"id":"2","text":"b{}c"}}"#, end.escape_default()),
                r#"{"id":"3","text":"d"}"#.to_string(),
            ],
            "{stem}"
        );
        // A ragged row after a blank line and a field over two lines: line 7.
        let ragged = csv + "4,e,extra" + end;
        let (run, _, _project) = convert(stem, &ragged, "{}");
        assert_eq!(
            failure(run),
            format!(
                "input `data/{stem}.csv` (/inputs/data/{stem}.csv): line 7: 3 fields, the header has 2"
            )
        );
    }
}

#[test]
fn csv_quoted_fields_hold_newlines_quotes_and_delimiters() {
    let csv = "title,quote\n\"Notes, vol. 1\",\"She said \"\"hi\"\"\nand left.\"\n\"\",\"\"\"\"\n";
    let (run, out, _project) = convert("quotes", csv, "{}");
    run.expect(0);
    assert_eq!(
        lines(&out, "quotes"),
        [
            r#"{"title":"Notes, vol. 1","quote":"She said \"hi\"\nand left."}"#,
            r#"{"title":"","quote":"\""}"#
        ]
    );
}

#[test]
fn csv_with_a_semicolon_delimiter() {
    let csv = "name;price;note\nTea;1,50;\"a;b\"\nCake;3,20;\n";
    let (run, out, _project) = convert("prices", csv, r#"{"delimiter": ";"}"#);
    run.expect(0);
    assert_eq!(
        lines(&out, "prices"),
        [
            r#"{"name":"Tea","price":"1,50","note":"a;b"}"#,
            r#"{"name":"Cake","price":"3,20","note":""}"#
        ]
    );
    let (run, _, _project) = convert("prices", csv, r#"{"delimiter": ";;"}"#);
    assert!(
        failure(run).starts_with("params.delimiter must be one ASCII character"),
        "a two-character delimiter was accepted"
    );
}

#[test]
fn csv_without_a_header_takes_given_or_numbered_column_names() {
    let csv = "Ada,36\nGrace,85\n";
    let params = r#"{"has-header": false, "columns": ["name", "age"]}"#;
    let (run, out, _project) = convert("people", csv, params);
    run.expect(0);
    assert_eq!(
        lines(&out, "people"),
        [
            r#"{"name":"Ada","age":"36"}"#,
            r#"{"name":"Grace","age":"85"}"#
        ]
    );
    let (run, out, _project) = convert("people", csv, r#"{"has-header": false}"#);
    run.expect(0);
    assert_eq!(
        lines(&out, "people"),
        [
            r#"{"column1":"Ada","column2":"36"}"#,
            r#"{"column1":"Grace","column2":"85"}"#
        ]
    );
    // With a header row, given names replace its names.
    let params = r#"{"columns": ["who", "years"]}"#;
    let (run, out, _project) = convert("people", &format!("Name,Age\n{csv}"), params);
    run.expect(0);
    assert_eq!(lines(&out, "people")[1], r#"{"who":"Grace","years":"85"}"#);
}

#[test]
fn a_ragged_csv_row_fails_naming_file_and_line() {
    let csv = "a,b,c\n1,2,3\n\n4,5\n6,7,8\n";
    let (run, _, _project) = convert("ragged", csv, "{}");
    assert_eq!(
        failure(run),
        "input `data/ragged.csv` (/inputs/data/ragged.csv): line 4: 2 fields, the header has 3"
    );
    let params = r#"{"has-header": false}"#;
    let (run, _, _project) = convert("ragged", "1,2\n3\n", params);
    assert_eq!(
        failure(run),
        "input `data/ragged.csv` (/inputs/data/ragged.csv): line 2: 1 field, the first row has 2"
    );
    let (run, _, _project) = convert("open", "a,b\n1,2\n\"open,3\n4,5\n", "{}");
    assert_eq!(
        failure(run),
        "input `data/open.csv` (/inputs/data/open.csv): line 3: the quote that opens field 1 \
         is never closed"
    );
}

#[test]
fn a_pipeline_turns_headerless_csv_into_a_report_and_a_typo_names_its_line() {
    let project = Project::new();
    project.write("data/scores.csv", "Ada;9\r\nGrace;7\r\nTim;4\r\n");
    project.write(
        "templates/scores.md.tmpl",
        "# Scores\n{% for row in inputs[\"out/scores/scores.jsonl\"] | sort(attribute=\"score\") %}\n\
         {{ loop.index }}. {{ row.player }}: {{ row.score }}{{ \" (pass)\" if row.score | int >= 7 else \"\" }}\n\
         {% endfor %}\n",
    );
    project.write(
        "pipelines/scores.toml",
        r#"
[[stage]]
id = "scores"
plugin = "csv-to-jsonl"
inputs = ["data/scores.csv"]
outputs = ["scores.jsonl"]
params = { delimiter = ";", has-header = false, columns = ["player", "score"] }

[[stage]]
id = "report"
plugin = "template"
inputs = ["out/scores/scores.jsonl", "templates/scores.md.tmpl"]
outputs = ["scores.md"]
params = { template-input = "templates/scores.md.tmpl", output = "scores.md" }
"#,
    );
    project
        .baton(&["pipeline", "run", "scores", "--format", "json"])
        .expect(0);
    assert_eq!(
        std::fs::read_to_string(project.path().join("out/report/scores.md")).unwrap(),
        "# Scores\n1. Tim: 4\n2. Grace: 7 (pass)\n3. Ada: 9 (pass)\n"
    );
    project.write(
        "templates/scores.md.tmpl",
        "# Scores\n{% for row in inputs[\"out/scores/scores.jsonl\"] %}\n- {{ row.playr }}\n{% endfor %}\n",
    );
    let doc = project
        .baton(&["pipeline", "run", "scores", "--format", "json"])
        .expect(10)
        .json();
    let report = &doc["stages"][1];
    assert_eq!(report["state"], "failed", "{doc}");
    let detail = report["detail"].as_str().unwrap();
    assert!(
        detail.contains(
            "template `templates/scores.md.tmpl`: line 3, column 6: undefined value: `row.playr` is undefined"
        ),
        "{detail}"
    );
}
