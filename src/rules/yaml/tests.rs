//! The marked tree, its budget and its syntax errors.

use std::rc::Rc;

use super::*;

fn map(node: &Node) -> &[(Node, Node)] {
    match &node.kind {
        NodeKind::Map(entries) => entries,
        other => panic!("not a map: {other:?}"),
    }
}

#[test]
fn lines_are_one_based_and_point_at_nodes() {
    let docs = parse("# comment\nname: x\napps:\n  zendesk: { role: agent }\n").unwrap();
    assert_eq!(docs.len(), 1);
    let entries = map(&docs[0]);
    assert_eq!(entries[0].0.line, 2);
    assert_eq!(entries[1].0.line, 3);
    let apps = map(&entries[1].1);
    assert_eq!(apps[0].0.line, 4);
    assert_eq!(map(&apps[0].1)[0].1.line, 4);
}

#[test]
fn duplicate_keys_are_kept() {
    let docs = parse("a: 1\na: 2\n").unwrap();
    assert_eq!(map(&docs[0]).len(), 2);
}

#[test]
fn scalars_keep_their_text_and_type() {
    let docs = parse("[007, '007', 1.50, true, ~, x, \"\"]").unwrap();
    let NodeKind::Seq(items) = &docs[0].kind else {
        panic!("not a list")
    };
    let got: Vec<(String, ScalarType)> = items
        .iter()
        .map(|n| match &n.kind {
            NodeKind::Scalar(t, ty) => (t.to_string(), *ty),
            other => panic!("{other:?}"),
        })
        .collect();
    use ScalarType::*;
    let want = [
        ("007", Number),
        ("007", Str),
        ("1.50", Number),
        ("true", Bool),
        ("~", Null),
        ("x", Str),
        ("", Str),
    ];
    for ((t, ty), (wt, wty)) in got.iter().zip(want) {
        assert_eq!((t.as_str(), *ty), (wt, wty));
    }
}

#[test]
fn aliases_copy_the_anchored_node() {
    let docs = parse("a: &x [1, 2]\nb: *x\n").unwrap();
    let entries = map(&docs[0]);
    assert!(matches!(&entries[1].1.kind, NodeKind::Seq(items) if items.len() == 2));
}

#[test]
fn empty_stream_has_no_document() {
    assert!(parse("").unwrap().is_empty());
    assert!(parse("# only a comment\n").unwrap().is_empty());
}

#[test]
fn syntax_error_carries_its_line() {
    let err = parse("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
    assert!(err.line >= 2, "{err:?}");
}

/// Ten levels of ten aliases of the level before: 10^10 nodes once expanded.
pub(crate) fn alias_bomb() -> &'static str {
    include_str!("../../../tests/fixtures/rules/alias_bomb/bomb.yaml")
}

#[test]
fn the_alias_bomb_stops_at_the_alias_that_exceeds_the_budget() {
    let err = parse(alias_bomb()).unwrap_err();
    // a0..a2 and their copies hold 2,453 copied nodes; a3's aliases copy
    // 1,111 nodes each and cross 10,000 on line 7 (after three of comment).
    assert_eq!(err.line, 7, "{err:?}");
    assert!(
        err.message
            .contains("anchors and aliases copy more than 10000 nodes"),
        "{err:?}"
    );
}

/// `count` aliases of an anchored list holding `items` scalars.
fn aliased_list(items: usize, count: usize) -> String {
    let list = vec!["x"; items].join(", ");
    let mut text = format!("shared: &s [{list}]\nuses:\n");
    for _ in 0..count {
        text.push_str("  - *s\n");
    }
    text
}

#[test]
fn the_budget_counts_the_anchored_node_and_every_alias_copy() {
    // A list of 99 scalars is 100 nodes: remembered once, copied 99 times,
    // exactly 10,000 copied nodes.
    let docs = parse(&aliased_list(99, 99)).unwrap();
    let uses = &map(&docs[0])[1].1;
    assert!(matches!(&uses.kind, NodeKind::Seq(items) if items.len() == 99));
    // One more alias is over the limit; the problem is at that alias.
    let err = parse(&aliased_list(99, 100)).unwrap_err();
    assert_eq!(err.line, 102, "{err:?}");
}

#[test]
fn aliases_of_a_long_scalar_share_its_text() {
    // 1,000 copies of a 100 KB scalar would be 100 MB; shared, they cost a pointer each.
    let long = "y".repeat(100_000);
    let mut text = format!("shared: &s {long}\nuses:\n");
    for _ in 0..1_000 {
        text.push_str("  - *s\n");
    }
    let docs = parse(&text).unwrap();
    let entries = map(&docs[0]);
    let NodeKind::Seq(uses) = &entries[1].1.kind else {
        panic!("not a list")
    };
    let (NodeKind::Scalar(first, _), NodeKind::Scalar(last, _)) = (&uses[0].kind, &uses[999].kind)
    else {
        panic!("not scalars")
    };
    assert!(Rc::ptr_eq(first, last));
    assert_eq!(first.len(), 100_000);
}

/// `levels` flow sequences inside each other, around one scalar.
fn nested(levels: usize) -> String {
    format!("{}x{}\n", "[".repeat(levels), "]".repeat(levels))
}

#[test]
fn nesting_up_to_the_limit_parses_and_deeper_is_refused() {
    assert!(parse(&nested(MAX_DEPTH)).is_ok());
    let err = parse(&nested(MAX_DEPTH + 1)).unwrap_err();
    assert_eq!(err.line, 1, "{err:?}");
    assert!(
        err.message
            .contains("nested more than 64 levels deep, the limit for a rule file"),
        "{err:?}"
    );
}

#[test]
fn deep_block_nesting_names_the_line_where_it_goes_too_deep() {
    // One mapping per line, each indented one more step: line 65 opens the 65th.
    let mut text = String::new();
    for level in 0..100 {
        text.push_str(&format!("{}k{level}:\n", "  ".repeat(level)));
    }
    let err = parse(&text).unwrap_err();
    assert_eq!(err.line, 65, "{err:?}");
}

#[test]
fn a_file_of_half_a_million_nested_lists_is_refused_without_recursion() {
    // Block sequences nest without the scanner's flow limit; saphyr's own
    // `load` recurses once per level, which would overflow the stack.
    let text = format!("{}x\n", "- ".repeat(500_000));
    let err = parse(&text).unwrap_err();
    assert_eq!(err.line, 1, "{err:?}");
    assert!(err.message.contains("nested more than 64"), "{err:?}");
}

#[test]
fn an_alias_may_not_carry_nesting_past_the_limit() {
    // The anchored list is 40 deep; copied under 30 more levels it would be 70.
    let deep = nested(40);
    let text = format!(
        "shared: &s {}{}*s{}\n",
        deep.trim_end(),
        "\nuse: ".to_string() + &"[".repeat(30),
        "]".repeat(30)
    );
    let err = parse(&text).unwrap_err();
    assert_eq!(err.line, 2, "{err:?}");
    assert!(err.message.contains("nested more than 64"), "{err:?}");
}

#[test]
fn files_over_the_size_limit_are_refused_whole() {
    // A comment-only file of exactly the limit is fine (and holds nothing).
    let at_limit = format!("#{}\n", "x".repeat(MAX_FILE_BYTES - 2));
    assert!(parse(&at_limit).unwrap().is_empty());
    let over = format!("#{}\n", "x".repeat(MAX_FILE_BYTES - 1));
    let err = parse(&over).unwrap_err();
    assert_eq!(err.line, 0);
    assert_eq!(
        err.message,
        "the rule file is 1048577 bytes, over the limit of 1048576 bytes (1 MiB) for one \
         rule file; split it into several files"
    );
}

/// The problem for `text`, which must be a syntax error.
fn syntax(text: &str) -> YamlError {
    let err = parse(text).unwrap_err();
    assert!(err.message.starts_with("yaml syntax error: "), "{err:?}");
    err
}

#[test]
fn an_unclosed_flow_mapping_is_reported_where_it_opened() {
    let text = "name: Dev Team
description: x
target:
  all: { field: team, op: is, value: Dev

apps:
  zendesk: { role: agent }
";
    let err = syntax(text);
    assert_eq!(err.line, 4, "{err:?}");
    assert!(
        err.message.starts_with(
            "yaml syntax error: the flow mapping opened at line 4, column 8 is never closed (YAML: "
        ),
        "{err:?}"
    );
    // The scanner's own words and position stay as context.
    assert!(
        err.message
            .ends_with("did not find expected ',' or '}' at line 6 column 5)"),
        "{err:?}"
    );
}

#[test]
fn an_unclosed_flow_sequence_is_reported_where_it_opened() {
    let err = syntax("a: [1, 2\nb: 3\n");
    assert_eq!(err.line, 1, "{err:?}");
    assert!(
        err.message
            .contains("the flow sequence opened at line 1, column 4 is never closed"),
        "{err:?}"
    );
}

#[test]
fn the_innermost_unclosed_construct_is_named() {
    // Both open on line 4; the mapping inside the list is the inner one.
    let text = "name: x
description: y
target:
  all: [{ field: team, op: is, value: Dev
apps:
  zendesk: { role: agent }
";
    let err = syntax(text);
    assert_eq!(err.line, 4, "{err:?}");
    assert!(
        err.message
            .contains("the flow mapping opened at line 4, column 9"),
        "{err:?}"
    );
    // A list closed by `}` is the list never closed.
    let err = syntax("a: { b: [1, 2 }\n");
    assert!(
        err.message
            .contains("the flow sequence opened at line 1, column 9"),
        "{err:?}"
    );
}

#[test]
fn a_flow_mapping_spanning_lines_is_found_where_it_opened() {
    let text = "apps:
  zendesk: { provisioning: true,
             role: agent
  slack: { role: member }
";
    let err = syntax(text);
    assert_eq!(err.line, 2, "{err:?}");
    assert!(
        err.message
            .contains("the flow mapping opened at line 2, column 12"),
        "{err:?}"
    );
}

#[test]
fn an_unclosed_quote_is_reported_where_it_opened() {
    let err = syntax("a:\n  name: \"abc\n  x: 1\n");
    assert_eq!(err.line, 2, "{err:?}");
    assert!(
        err.message
            .contains("the double-quoted string opened at line 2, column 9 is never closed"),
        "{err:?}"
    );
}

#[test]
fn brackets_in_plain_text_comments_and_block_scalars_are_not_constructs() {
    let text = "description: a [b { c  # a comment {
notes: |
  {not yaml [
x: 'it''s' # ok
y: [1, 2
z: 3
";
    let err = syntax(text);
    assert_eq!(err.line, 5, "{err:?}");
    assert!(
        err.message
            .contains("the flow sequence opened at line 5, column 4"),
        "{err:?}"
    );
}

#[test]
fn errors_without_an_unclosed_construct_keep_the_scanners_line() {
    // Closed, but badly indented: the scanner's line stands.
    let err = syntax("a: { b: 1,\nc: 2 }\nd: [1, 2]\n");
    assert!(!err.message.contains("never closed"), "{err:?}");
    // A construct opened after the error is not its cause.
    let err = syntax("a: b: c\nd: [1\n");
    assert_eq!(err.line, 1, "{err:?}");
    assert!(!err.message.contains("never closed"), "{err:?}");
}

proptest::proptest! {
    /// Any text of YAML's punctuation parses or gives a problem on one of its
    /// lines (or 0): the budget and the unclosed-construct lexer never panic
    /// nor point outside the file.
    #[test]
    fn any_text_parses_or_names_a_line_of_it(text in "[-\\[\\]{}\"'#:|>?&*!,a \\n\\\\]{0,200}") {
        if let Err(err) = parse(&text) {
            let lines = text.lines().count() + 1;
            proptest::prop_assert!(err.line <= lines, "{err:?} in {text:?}");
        }
    }
}
