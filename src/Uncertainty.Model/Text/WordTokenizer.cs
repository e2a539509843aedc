using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Uncertainty.Model.Text;

/// <summary>
/// A word-level vocabulary, rules "word-v1":
/// <list type="number">
/// <item>Full-width ASCII forms (U+FF01-U+FF5E) become ASCII and the Latin ligatures U+FB00-U+FB06 their letters (an unpaired
/// surrogate first becomes U+FFFD); then the text is lower-cased (invariant culture). Not NFKC: .NET's normalisation needs ICU,
/// which globalization-invariant processes (this service and CLI) do not load, so it would tokenize differently from process
/// to process; this fold gives the same tokens everywhere. A combining mark stays inside its word.</item>
/// <item>A URL (starting "http://", "https://", "ftp://" or "www.", up to the next white space or one of &lt; &gt; " ' ( ) [ ] { }) is one token &lt;url&gt;.</item>
/// <item>An e-mail address (local part of letters, digits and . _ % + -, an '@', a domain of letters, digits, . and - with a dot inside) is one token &lt;email&gt;.</item>
/// <item>Otherwise a token is a maximal run of letters, digits and combining marks; '$' and '!' are one-character tokens (they carry
/// much of the signal in spam); everything else separates tokens and is dropped.</item>
/// <item>A run of digits alone longer than <see cref="MaxDigits"/> is &lt;num&gt; (prices and years stay, phone and order numbers merge).</item>
/// <item>A run longer than <see cref="MaxTokenLength"/> characters (base64 lines, hashes) is &lt;unk&gt;, not truncated: its first 64
/// characters are no more a word than the rest, and truncating would fill the vocabulary with their prefixes.</item>
/// </list>
/// Ids: 0 is &lt;pad&gt; (never emitted by <see cref="Encode"/>; the caller pads with it), 1 is &lt;unk&gt;, then the vocabulary by
/// descending count in the texts it was built from, ties in ordinal order. Tokenizing is one pass over the text with no
/// backtracking, so it takes time linear in the text's length.
/// </summary>
public sealed class WordTokenizer
{
    public const string RulesVersion = "word-v1";

    public const string Pad = "<pad>";

    public const string Unknown = "<unk>";

    public const string Url = "<url>";

    public const string Email = "<email>";

    public const string Number = "<num>";

    public const int PadId = 0;

    public const int UnknownId = 1;

    public const int MaxTokenLength = 64;

    public const int MaxDigits = 4;

    /// <summary>The most vocabulary entries (besides &lt;pad&gt; and &lt;unk&gt;) a tokenizer may have.</summary>
    public const int MaxVocabulary = 1_000_000;

    private static readonly string[] UrlPrefixes = ["http://", "https://", "ftp://", "www."];

    private static readonly System.Buffers.SearchValues<char> UrlStops = System.Buffers.SearchValues.Create(" \t\r\n\f\v<>\"'()[]{}");

    private static readonly JsonSerializerOptions ReadOptions = new() { MaxDepth = 4 };

    private readonly string[] tokens;
    private readonly Dictionary<string, int> ids;

    private WordTokenizer(string[] tokens)
    {
        this.tokens = tokens;
        ids = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        for (int id = 0; id < tokens.Length; id++)
        {
            ids.Add(tokens[id], id);
        }
    }

    /// <summary>The number of ids, &lt;pad&gt; and &lt;unk&gt; included.</summary>
    public int VocabularySize => tokens.Length;

    /// <summary>The token of each id: index 0 is &lt;pad&gt;, 1 is &lt;unk&gt;.</summary>
    public IReadOnlyList<string> Vocabulary => tokens;

    /// <summary>
    /// Builds the vocabulary from <paramref name="texts"/>: every token seen at least <paramref name="minCount"/> times, the
    /// <paramref name="maxVocabulary"/> most frequent (ties in ordinal order) after &lt;pad&gt; and &lt;unk&gt;.
    /// </summary>
    public static WordTokenizer Build(IEnumerable<string> texts, int maxVocabulary, int minCount = 2)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentOutOfRangeException.ThrowIfNegative(maxVocabulary);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxVocabulary, MaxVocabulary);
        ArgumentOutOfRangeException.ThrowIfLessThan(minCount, 1);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var text in texts)
        {
            Scan(text, int.MaxValue, token =>
            {
                if (token != Unknown)
                {
                    counts[token] = counts.GetValueOrDefault(token) + 1;
                }
            });
        }

        var vocabulary = counts.Where(c => c.Value >= minCount)
            .OrderByDescending(c => c.Value).ThenBy(c => c.Key, StringComparer.Ordinal)
            .Take(maxVocabulary).Select(c => c.Key);
        return new WordTokenizer([Pad, Unknown, .. vocabulary]);
    }

    /// <summary>The ids of the first <paramref name="maxLength"/> tokens (unknown ones as 1); never 0, and no padding.</summary>
    public int[] Encode(string text, int maxLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxLength);
        var encoded = new List<int>(Math.Min(maxLength, 256));
        Scan(text, maxLength, token => encoded.Add(ids.GetValueOrDefault(token, UnknownId)));
        return [.. encoded];
    }

    /// <summary>The tokens of a text under the rules, before the vocabulary is applied (for inspection).</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "Asked of the tokenizer one holds, next to Encode; the rules are this class's.")]
    public IReadOnlyList<string> Tokens(string text) => Tokenize(text);

    /// <summary>The rules applied to a text, without a vocabulary.</summary>
    public static IReadOnlyList<string> Tokenize(string text, int maxTokens = int.MaxValue)
    {
        var found = new List<string>();
        Scan(text, maxTokens, found.Add);
        return found;
    }

    /// <summary>Full-width ASCII forms to ASCII and the Latin ligatures to their letters; every other character as it is.</summary>
    internal static string Fold(string text)
    {
        if (!text.AsSpan().ContainsAnyInRange('\uFB00', '\uFF5E'))
        {
            return text;
        }

        var folded = new StringBuilder(text.Length);
        foreach (char c in text)
        {
            _ = c switch
            {
                >= '\uFF01' and <= '\uFF5E' => folded.Append((char)(c - 0xFEE0)),
                '\uFB00' => folded.Append("ff"),
                '\uFB01' => folded.Append("fi"),
                '\uFB02' => folded.Append("fl"),
                '\uFB03' => folded.Append("ffi"),
                '\uFB04' => folded.Append("ffl"),
                '\uFB05' or '\uFB06' => folded.Append("st"),
                _ => folded.Append(c),
            };
        }

        return folded.ToString();
    }

    /// <summary>Calls <paramref name="emit"/> for each token of <paramref name="text"/>, at most <paramref name="maxTokens"/> times.</summary>
    private static void Scan(string text, int maxTokens, Action<string> emit)
    {
        ArgumentNullException.ThrowIfNull(text);
        var s = Fold(WithoutLoneSurrogates(text)).ToLowerInvariant();
        int emitted = 0;
        int i = 0;
        // Where the last failed e-mail look-ahead stopped: a word starting before it is inside that local part and fails
        // the same way, so it is not looked at again (this keeps "a.a.a.a..." linear).
        int noEmailBefore = 0;
        while (i < s.Length && emitted < maxTokens)
        {
            char c = s[i];
            if (c is '$' or '!')
            {
                emit(c.ToString());
                emitted++;
                i++;
                continue;
            }

            if (!IsWordChar(s, i))
            {
                i += char.IsSurrogatePair(s, i) ? 2 : 1;
                continue;
            }

            if (UrlEnd(s, i) is var urlEnd and > 0)
            {
                emit(Url);
                emitted++;
                i = urlEnd;
                continue;
            }

            if (i >= noEmailBefore)
            {
                var (emailEnd, scanned) = EmailEnd(s, i);
                if (emailEnd > 0)
                {
                    emit(Email);
                    emitted++;
                    i = emailEnd;
                    continue;
                }

                noEmailBefore = scanned;
            }

            int start = i;
            bool digitsOnly = true;
            while (i < s.Length && IsWordChar(s, i))
            {
                digitsOnly &= char.IsAsciiDigit(s[i]);
                i += char.IsSurrogatePair(s, i) ? 2 : 1;
            }

            int length = i - start;
            emit(length > MaxTokenLength ? Unknown : digitsOnly && length > MaxDigits ? Number : s[start..i]);
            emitted++;
        }
    }

    /// <summary>The text with each unpaired surrogate (which JSON can carry, and which NFKC refuses) replaced by U+FFFD.</summary>
    private static string WithoutLoneSurrogates(string text)
    {
        if (text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') < 0)
        {
            return text;
        }

        var chars = text.ToCharArray();
        for (int i = 0; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(chars[i]))
            {
                chars[i] = '\uFFFD';
            }
        }

        return new string(chars);
    }

    private static bool IsWordChar(string s, int i) =>
        char.IsLetterOrDigit(s, i) || CharUnicodeInfo.GetUnicodeCategory(s, i) is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark;

    /// <summary>The end of a URL starting at <paramref name="i"/>, or -1.</summary>
    private static int UrlEnd(string s, int i)
    {
        if (!UrlPrefixes.Any(p => s.AsSpan(i).StartsWith(p, StringComparison.Ordinal)))
        {
            return -1;
        }

        int end = s.AsSpan(i).IndexOfAny(UrlStops);
        return end < 0 ? s.Length : i + end;
    }

    /// <summary>
    /// The end of an e-mail address starting at <paramref name="i"/>, or -1, and where the local part's scan stopped.
    /// </summary>
    private static (int End, int Scanned) EmailEnd(string s, int i)
    {
        int at = i;
        while (at < s.Length && (char.IsLetterOrDigit(s[at]) || s[at] is '.' or '_' or '%' or '+' or '-'))
        {
            at++;
        }

        if (at >= s.Length || s[at] != '@')
        {
            return (-1, at);
        }

        int end = at + 1;
        while (end < s.Length && (char.IsLetterOrDigit(s[end]) || s[end] is '.' or '-'))
        {
            end++;
        }

        // A trailing dot ends the sentence, not the domain.
        while (end > at + 1 && s[end - 1] == '.')
        {
            end--;
        }

        var domain = s.AsSpan(at + 1, end - at - 1);
        bool valid = domain is [var first, ..] && char.IsLetterOrDigit(first) && domain[1..].Contains('.');
        return (valid ? end : -1, at);
    }

    /// <summary>The tokenizer as compact JSON: {"rules":"word-v1","tokens":[...]} with token i having id i.</summary>
    public string ToJson() => JsonSerializer.Serialize(new TokenizerJson(RulesVersion, tokens));

    /// <summary>
    /// Reads <see cref="ToJson"/>'s output. Refuses (naming the field) anything else: another rules version, tokens not
    /// starting with &lt;pad&gt; and &lt;unk&gt;, a duplicate, empty, over-long or non-canonical token (one the rules would
    /// not produce from itself), or more than <see cref="MaxVocabulary"/> entries.
    /// </summary>
    public static WordTokenizer FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        TokenizerJson? read;
        try
        {
            read = JsonSerializer.Deserialize<TokenizerJson>(json, ReadOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Tokenizer JSON is malformed: {e.Message}", e);
        }

        if (read is null)
        {
            throw new InvalidDataException("Tokenizer JSON is null; expected {\"rules\", \"tokens\"}.");
        }

        if (read.Rules != RulesVersion)
        {
            throw new InvalidDataException($"rules: '{read.Rules}'; this tokenizer implements '{RulesVersion}'.");
        }

        if (read.Tokens is not { Length: >= 2 and <= MaxVocabulary + 2 } list)
        {
            throw new InvalidDataException($"tokens: expected 2 to {MaxVocabulary + 2} entries, {Pad} and {Unknown} first; got {read.Tokens?.Length.ToString(CultureInfo.InvariantCulture) ?? "none"}.");
        }

        if (list[0] != Pad || list[1] != Unknown)
        {
            throw new InvalidDataException($"tokens: entries 0 and 1 must be {Pad} and {Unknown}.");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int id = 0; id < list.Length; id++)
        {
            var token = list[id];
            if (token is null || !seen.Add(token))
            {
                throw new InvalidDataException($"tokens[{id}]: {(token is null ? "null" : $"'{token}' appears twice")}.");
            }

            bool canonical = token is Url or Email or Number
                || (token.Length <= MaxTokenLength && Tokenize(token, 2) is [var only] && only == token);
            if (id >= 2 && !canonical)
            {
                throw new InvalidDataException($"tokens[{id}]: '{token}' is not a token the {RulesVersion} rules produce.");
            }
        }

        return new WordTokenizer(list);
    }

    private sealed record TokenizerJson(
        [property: System.Text.Json.Serialization.JsonPropertyName("rules")] string? Rules,
        [property: System.Text.Json.Serialization.JsonPropertyName("tokens")] string[]? Tokens);
}
