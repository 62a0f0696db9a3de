//! Just enough XML for STS's Query-protocol answers: the text of the first element with a given
//! name, entities decoded. STS answers are small, flat and machine-written; a general XML parser
//! would add a dependency for six element lookups.

use std::borrow::Cow;

/// The text of the first `<name>…</name>` element (attributes allowed on the opening tag), with
/// the five predefined entities and numeric character references decoded. `None` when the element
/// is absent, not closed, or holds markup or a malformed entity.
pub(crate) fn element<'a>(xml: &'a str, name: &str) -> Option<Cow<'a, str>> {
    let mut from = 0;
    let start = loop {
        let at = from + xml[from..].find('<')?;
        let rest = &xml[at + 1..];
        if let Some(after) = rest.strip_prefix(name) {
            match after.as_bytes().first() {
                Some(b'>') => break at + 1 + name.len() + 1,
                Some(b' ' | b'\t' | b'\r' | b'\n') => {
                    let close = after.find('>')?;
                    if after[..close].ends_with('/') {
                        return Some(Cow::Borrowed(""));
                    }
                    break at + 1 + name.len() + close + 1;
                }
                Some(b'/') if after.as_bytes().get(1) == Some(&b'>') => {
                    return Some(Cow::Borrowed(""));
                }
                _ => {}
            }
        }
        from = at + 1;
    };
    let end_tag = format!("</{name}>");
    let len = xml[start..].find(&end_tag)?;
    let text = &xml[start..start + len];
    if text.contains('<') {
        return None;
    }
    decode(text)
}

fn decode(text: &str) -> Option<Cow<'_, str>> {
    if !text.contains('&') {
        return Some(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        let semi = tail.find(';')?;
        let entity = &tail[..semi];
        let ch = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code =
                    if let Some(hex) = entity.strip_prefix("#x").or(entity.strip_prefix("#X")) {
                        u32::from_str_radix(hex, 16).ok()?
                    } else {
                        entity.strip_prefix('#')?.parse::<u32>().ok()?
                    };
                char::from_u32(code)?
            }
        };
        out.push(ch);
        rest = &tail[semi + 1..];
    }
    out.push_str(rest);
    Some(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_element_and_decodes_entities() {
        let xml = r#"<R xmlns="x"><A>one</A><A>two</A><B attr="1">a &amp; b &lt;c&gt; &#65;&#x42;</B><C/><D></D></R>"#;
        assert_eq!(element(xml, "A").as_deref(), Some("one"));
        assert_eq!(element(xml, "B").as_deref(), Some("a & b <c> AB"));
        assert_eq!(element(xml, "C").as_deref(), Some(""));
        assert_eq!(element(xml, "D").as_deref(), Some(""));
        assert_eq!(element(xml, "E"), None);
    }

    #[test]
    fn does_not_match_a_longer_name_or_nested_markup() {
        let xml = "<AccessKeyIdX>no</AccessKeyIdX><AccessKeyId>yes</AccessKeyId><Outer><In>x</In></Outer>";
        assert_eq!(element(xml, "AccessKeyId").as_deref(), Some("yes"));
        assert_eq!(element(xml, "Outer"), None);
    }

    #[test]
    fn malformed_input_is_none_not_a_panic() {
        for xml in [
            "<A>unclosed",
            "<A>&bogus;</A>",
            "<A>&#xZZ;</A>",
            "<A>&#1114112;</A>",
            "<A",
            "<",
            "<A>&amp</A>",
            "é<A>é</A>",
        ] {
            let _ = element(xml, "A");
        }
        assert_eq!(element("<A>&bogus;</A>", "A"), None);
        assert_eq!(element("é<A>é</A>", "A").as_deref(), Some("é"));
    }
}
