//! Where a construct that is never closed began.
//!
//! An unclosed `{`, `[` or quote lets the scanner read on as if the
//! construct continued, so it reports the mistake lines later ("invalid
//! indentation" at the next key). Only on such an error, this light lexer
//! reads the file for the flow collections and quoted strings it opens and
//! closes, enough of YAML to find them: comments, block scalars, plain
//! scalars (where brackets and quotes are mere text) and the rule that
//! brackets open collections only where a node begins. It is a hint for the
//! message, so when unsure it finds nothing and the scanner's words stand.

/// A flow collection or quoted string that is never closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Open {
    /// What it is, for messages: "flow mapping", "flow sequence", ….
    pub what: &'static str,
    /// 1-based line of its opening character.
    pub line: usize,
    /// 1-based column (in characters) of its opening character.
    pub column: usize,
}

/// The innermost construct never closed that opens at or before `error`
/// (1-based line and column), if any. A bracket closed by the wrong kind
/// (`[1, 2}`) counts as never closed.
pub(crate) fn find(text: &str, error: (usize, usize)) -> Option<Open> {
    let before = |open: &Open| (open.line, open.column) <= error;
    match Lexer::new(text).run() {
        Ending::Mismatched(open) | Ending::InQuote(open) => Some(open).filter(before),
        Ending::Balanced(stack) => stack.into_iter().rev().find(before),
    }
}

/// How the lexer's read ended.
enum Ending {
    /// The end of the text; the flow collections still open, outermost first.
    Balanced(Vec<Open>),
    /// A closing bracket of the wrong kind met this open collection.
    Mismatched(Open),
    /// The end of the text inside this quoted string.
    InQuote(Open),
}

struct Lexer {
    chars: Vec<char>,
    /// Index of the next character.
    at: usize,
    line: usize,
    column: usize,
    /// Open flow collections, outermost first.
    stack: Vec<Open>,
}

impl Lexer {
    fn new(text: &str) -> Lexer {
        Lexer {
            chars: text.chars().collect(),
            at: 0,
            line: 1,
            column: 1,
            stack: Vec::new(),
        }
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    /// The character before the next one; a line break at the start.
    fn previous(&self) -> char {
        self.at
            .checked_sub(1)
            .and_then(|i| self.chars.get(i))
            .copied()
            .unwrap_or('\n')
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn here(&self, what: &'static str) -> Open {
        Open {
            what,
            line: self.line,
            column: self.column,
        }
    }

    /// Skips to the end of the line, leaving the line break.
    fn skip_line(&mut self) {
        while self.peek(0).is_some_and(|c| c != '\n') {
            self.bump();
        }
    }

    /// Reads line by line in block context, character by character inside
    /// flow collections.
    fn run(mut self) -> Ending {
        // Indentation of the line that opened a block scalar (`|`, `>`):
        // more indented lines (and blank ones) are its text.
        let mut block_scalar: Option<usize> = None;
        while self.peek(0).is_some() {
            let indent = self.chars[self.at..]
                .iter()
                .take_while(|c| **c == ' ')
                .count();
            let blank = matches!(self.peek(indent), None | Some('\n' | '\r'));
            if let Some(parent) = block_scalar {
                if blank || indent > parent {
                    self.skip_line();
                    self.bump();
                    continue;
                }
                block_scalar = None;
            }
            match self.line_content(indent) {
                Err(ending) => return ending,
                Ok(opens_block_scalar) => {
                    if opens_block_scalar {
                        block_scalar = Some(indent);
                    }
                }
            }
            self.bump();
        }
        Ending::Balanced(self.stack)
    }

    /// Reads one line (more when a flow collection or quote spans lines),
    /// up to its line break. `Ok(true)` when it opens a block scalar.
    fn line_content(&mut self, indent: usize) -> Result<bool, Ending> {
        // In block context: whether the next character begins a node (so a
        // bracket or quote there is one), rather than continuing a plain scalar.
        let mut node_start = true;
        if self.stack.is_empty() && self.column == 1 {
            for _ in 0..indent {
                self.bump();
            }
            // A document marker is followed by a node.
            let marker: String = self.chars[self.at..].iter().take(3).collect();
            if (marker == "---" || marker == "...")
                && matches!(self.peek(3), None | Some(' ' | '\t' | '\n' | '\r'))
            {
                self.stack.clear();
                for _ in 0..3 {
                    self.bump();
                }
            }
        }
        while let Some(c) = self.peek(0) {
            if c == '\n' {
                return Ok(false);
            }
            let after_blank = matches!(self.previous(), ' ' | '\t' | '\n');
            if c == '#' && after_blank {
                self.skip_line();
                continue;
            }
            if self.stack.is_empty() {
                if node_start {
                    match c {
                        ' ' | '\t' => {}
                        '-' | '?' | ':' if self.blank_after() => {}
                        // Anchor, tag or alias: a word, then the node.
                        '&' | '!' | '*' => {
                            while self.peek(0).is_some_and(|c| !c.is_whitespace()) {
                                self.bump();
                            }
                            continue;
                        }
                        '|' | '>' => {
                            self.skip_line();
                            return Ok(true);
                        }
                        '[' | '{' | '"' | '\'' => {
                            self.open(c)?;
                            node_start = false;
                            continue;
                        }
                        _ => node_start = false,
                    }
                } else if c == ':' && self.blank_after() {
                    node_start = true;
                }
                self.bump();
                continue;
            }
            match c {
                '[' | '{' => self.open(c)?,
                '"' | '\''
                    if matches!(self.previous(), ' ' | '\t' | '\n' | '[' | '{' | ',' | ':') =>
                {
                    self.open(c)?
                }
                ']' | '}' => self.close(c)?,
                _ => {
                    self.bump();
                }
            }
        }
        Ok(false)
    }

    /// Whether the character after the next one is blank or the end.
    fn blank_after(&self) -> bool {
        matches!(self.peek(1), None | Some(' ' | '\t' | '\n' | '\r'))
    }

    /// Consumes an opening bracket (pushed) or a whole quoted string.
    fn open(&mut self, c: char) -> Result<(), Ending> {
        let what = match c {
            '[' => "flow sequence",
            '{' => "flow mapping",
            '"' => "double-quoted string",
            _ => "single-quoted string",
        };
        let open = self.here(what);
        self.bump();
        match c {
            '[' | '{' => {
                self.stack.push(open);
                Ok(())
            }
            _ => self.quoted(c, open),
        }
    }

    /// Consumes a closing bracket: closes the innermost collection, or
    /// finds it closed by the wrong kind.
    fn close(&mut self, c: char) -> Result<(), Ending> {
        let opener = if c == ']' {
            "flow sequence"
        } else {
            "flow mapping"
        };
        match self.stack.pop() {
            Some(open) if open.what != opener => Err(Ending::Mismatched(open)),
            _ => {
                self.bump();
                Ok(())
            }
        }
    }

    /// Consumes a quoted string's text and its closing quote.
    fn quoted(&mut self, quote: char, open: Open) -> Result<(), Ending> {
        while let Some(c) = self.bump() {
            match c {
                // `\"` in double quotes.
                '\\' if quote == '"' => {
                    self.bump();
                }
                // `''` is an escaped quote in single quotes.
                '\'' if quote == '\'' && self.peek(0) == Some('\'') => {
                    self.bump();
                }
                _ if c == quote => return Ok(()),
                _ => {}
            }
        }
        Err(Ending::InQuote(open))
    }
}
