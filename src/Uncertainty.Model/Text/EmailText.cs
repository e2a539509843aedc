using System.Net;
using System.Text;

namespace Uncertainty.Model.Text;

/// <summary>
/// Turns a raw e-mail (RFC 5322 headers, a blank line, the body) into the text a spam model reads. Every step is one
/// left-to-right pass, so time is linear in the message length.
/// </summary>
public static class EmailText
{
    /// <summary>
    /// The Subject header value, the From header value, then the body (everything after the first blank line) with
    /// HTML tags, comments and style/script blocks removed and character references decoded; runs of white space
    /// become one space. Only these two headers are kept because a client asking about a message sends what it would
    /// paste (sender, subject, text): the Received chain, message ids and mail-server stamps are not something a client
    /// has, and a model that learnt them would score the corpus's servers and dates rather than the message. A text
    /// whose first line is not a header (nor an mbox "From " line) is all body. The body is taken as written: no MIME
    /// decoding, so base64 parts stay as long runs (the tokenizer maps those to &lt;unk&gt;).
    /// </summary>
    public static string ModelText(string rawEmail)
    {
        ArgumentNullException.ThrowIfNull(rawEmail);
        var (headers, body) = SplitHeaders(rawEmail);
        string? subject = null, from = null;
        foreach (var (name, value) in UnfoldedHeaders(headers))
        {
            if (subject is null && name.Equals("Subject", StringComparison.OrdinalIgnoreCase))
            {
                subject = value;
            }
            else if (from is null && name.Equals("From", StringComparison.OrdinalIgnoreCase))
            {
                from = value;
            }
        }

        return CollapseWhiteSpace($"{subject}\n{from}\n{WebUtility.HtmlDecode(StripTags(body))}");
    }

    /// <summary>The header block and the body; no header block when the first line is not a header.</summary>
    internal static (string Headers, string Body) SplitHeaders(string message)
    {
        if (!StartsWithHeader(message))
        {
            return ("", message);
        }

        for (int start = 0; start < message.Length;)
        {
            int end = message.IndexOf('\n', start);
            int lineEnd = end < 0 ? message.Length : end;
            if (message.AsSpan(start, lineEnd - start).TrimEnd('\r').IsEmpty)
            {
                return (message[..start], end < 0 ? "" : message[(end + 1)..]);
            }

            start = lineEnd + 1;
        }

        return (message, "");
    }

    private static bool StartsWithHeader(string message)
    {
        if (message.StartsWith("From ", StringComparison.Ordinal))
        {
            return true;
        }

        // A field name is printable ASCII other than the colon (RFC 5322 section 3.6.8), followed by a colon.
        int i = 0;
        while (i < message.Length && message[i] is > ' ' and <= '~' and not ':')
        {
            i++;
        }

        return i > 0 && i < message.Length && message[i] == ':';
    }

    /// <summary>(name, value) per header field, continuation lines (starting with space or tab) joined to their field.</summary>
    internal static IEnumerable<(string Name, string Value)> UnfoldedHeaders(string headers)
    {
        string? name = null;
        var value = new StringBuilder();
        foreach (var raw in headers.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line is [' ' or '\t', ..])
            {
                value.Append(' ').Append(line.AsSpan().Trim());
                continue;
            }

            if (name is not null)
            {
                yield return (name, value.ToString().Trim());
            }

            int colon = line.IndexOf(':', StringComparison.Ordinal);
            name = colon > 0 && !line.AsSpan(0, colon).ContainsAny(' ', '\t') ? line[..colon] : null;
            value.Clear().Append(name is null ? "" : line.AsSpan(colon + 1));
        }

        if (name is not null)
        {
            yield return (name, value.ToString().Trim());
        }
    }

    /// <summary>
    /// Removes HTML tags (&lt;name ...&gt;, &lt;/name&gt;), comments and declarations (&lt;!...&gt;) and the contents of
    /// style and script elements, each replaced by a space. A '&lt;' that does not open a tag (as in
    /// "&lt;http://example.com&gt;", "&lt;someone@example.com&gt;" or "a &lt; b") is kept. The next '&gt;' and the next
    /// closing style/script tag are remembered, so the pass stays linear however many '&lt;' there are.
    /// </summary>
    internal static string StripTags(string html)
    {
        var text = new StringBuilder(html.Length);
        int nextClose = -1, nextCommentEnd = -1;
        var nextEndTag = new Dictionary<string, int>(StringComparer.Ordinal);
        int i = 0;
        while (i < html.Length)
        {
            int open = html.IndexOf('<', i);
            if (open < 0)
            {
                text.Append(html, i, html.Length - i);
                break;
            }

            text.Append(html, i, open - i);
            if (nextClose < open)
            {
                nextClose = html.IndexOf('>', open);
            }

            if (nextClose < 0)
            {
                text.Append(html, open, html.Length - open);
                break;
            }

            if (html.AsSpan(open).StartsWith("<!--"))
            {
                if (nextCommentEnd < open)
                {
                    nextCommentEnd = html.IndexOf("-->", open + 4, StringComparison.Ordinal);
                }

                i = nextCommentEnd < 0 ? html.Length : nextCommentEnd + 3;
                text.Append(' ');
                continue;
            }

            if (TagName(html, open) is not { } name)
            {
                text.Append('<');
                i = open + 1;
                continue;
            }

            i = nextClose + 1;
            text.Append(' ');
            if (name is "style" or "script")
            {
                // Skip the element's contents up to its closing tag (or just the tag when it is never closed).
                if (!nextEndTag.TryGetValue(name, out int endTag) || (endTag >= 0 && endTag < i))
                {
                    endTag = html.IndexOf($"</{name}", i, StringComparison.OrdinalIgnoreCase);
                    nextEndTag[name] = endTag;
                }

                if (endTag >= 0 && html.IndexOf('>', endTag) is var endClose and >= 0)
                {
                    i = endClose + 1;
                }
            }
        }

        return text.ToString();
    }

    /// <summary>The lower-case tag name when '&lt;' at <paramref name="open"/> opens a tag or declaration, else null.</summary>
    private static string? TagName(string html, int open)
    {
        int i = open + 1;
        if (i < html.Length && html[i] is '/' or '!')
        {
            i++;
        }

        int start = i;
        while (i < html.Length && (char.IsAsciiLetter(html[i]) || (i > start && char.IsAsciiDigit(html[i]))))
        {
            i++;
        }

        bool ends = i < html.Length && (html[i] is '>' or '/' || char.IsWhiteSpace(html[i]));
        return i > start && ends ? html[start..i].ToLowerInvariant() : null;
    }

    /// <summary>Runs of white space become one space; none at the ends.</summary>
    internal static string CollapseWhiteSpace(string text)
    {
        var collapsed = new StringBuilder(text.Length);
        bool pending = false;
        foreach (char c in text)
        {
            if (char.IsWhiteSpace(c))
            {
                pending = collapsed.Length > 0;
                continue;
            }

            if (pending)
            {
                collapsed.Append(' ');
                pending = false;
            }

            collapsed.Append(c);
        }

        return collapsed.ToString();
    }
}
