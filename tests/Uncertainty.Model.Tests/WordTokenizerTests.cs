using System.Diagnostics;
using Uncertainty.Model.Text;

namespace Uncertainty.Model.Tests;

public sealed class WordTokenizerTests
{
    [Fact]
    public void Urls_and_email_addresses_are_one_token_each()
    {
        var tokens = WordTokenizer.Tokenize("Visit http://x.com/a?b=1 or www.Foo.org, mail John.Doe+x@Mail.Example.COM. Not me@home or a.b@c.");

        Assert.Equal(["visit", "<url>", "or", "<url>", "mail", "<email>", "not", "me", "home", "or", "a", "b", "c"], tokens);
    }

    [Fact]
    public void Long_digit_runs_become_num_while_dollar_and_bang_are_tokens()
    {
        var tokens = WordTokenizer.Tokenize("Call 5551234 now: $1000 in 2024!! id42000000");

        Assert.Equal(["call", "<num>", "now", "$", "1000", "in", "2024", "!", "!", "id42000000"], tokens);
    }

    [Fact]
    public void Full_width_forms_and_ligatures_are_folded_and_text_is_lower_cased()
    {
        // Full-width letters and the fi ligature fold to ASCII; the combining acute stays inside its word (no ICU composition).
        var tokens = WordTokenizer.Tokenize("ＨＥＬＬＯ Ｗｏｒｌｄ ﬁne Cafe\u0301 ÉTÉ");

        Assert.Equal(["hello", "world", "fine", "cafe\u0301", "\u00e9t\u00e9"], tokens);
    }

    [Fact]
    public void Unpaired_surrogates_separate_tokens_instead_of_failing_normalisation()
    {
        Assert.Equal(["ab", "cd", "x\U00020000y"], WordTokenizer.Tokenize("ab\uD800cd x\U00020000y \uDC00"));
    }

    [Fact]
    public void A_run_longer_than_64_characters_is_unk_and_is_not_counted_into_the_vocabulary()
    {
        var longest = new string('a', WordTokenizer.MaxTokenLength);
        var tooLong = new string('b', WordTokenizer.MaxTokenLength + 1);

        var tokenizer = WordTokenizer.Build([$"{longest} {tooLong}", $"{longest} {tooLong}"], maxVocabulary: 10);

        Assert.Equal([longest, "<unk>"], tokenizer.Tokens($"{longest} {tooLong}"));
        Assert.Equal(["<pad>", "<unk>", longest], tokenizer.Vocabulary);
    }

    [Fact]
    public void Ids_follow_descending_count_then_ordinal_order_within_the_limits()
    {
        var tokenizer = WordTokenizer.Build(["b a a c d", "c a b e e e e"], maxVocabulary: 3, minCount: 2);

        // e: 4, a: 3, b and c: 2 (tie, ordinal), d: 1 (below minCount); at most three entries.
        Assert.Equal(["<pad>", "<unk>", "e", "a", "b"], tokenizer.Vocabulary);
        Assert.Equal(5, tokenizer.VocabularySize);
    }

    [Fact]
    public void Encode_maps_unknown_tokens_to_one_never_emits_zero_and_stops_at_max_length()
    {
        var tokenizer = WordTokenizer.Build(["free money free money"], maxVocabulary: 10);

        Assert.Equal([2, 1, 3], tokenizer.Encode("FREE cash money free money", maxLength: 3));
        Assert.Empty(tokenizer.Encode("", maxLength: 5));
        Assert.Empty(tokenizer.Encode("free", maxLength: 0));
        Assert.DoesNotContain(0, tokenizer.Encode("<pad> pad \0 free", maxLength: 10));
    }

    [Fact]
    public void Json_is_compact_and_round_trips()
    {
        var tokenizer = WordTokenizer.Build(["b a a c", "c a b $ $ http://x.org http://y.org"], maxVocabulary: 10);

        var json = tokenizer.ToJson();
        var read = WordTokenizer.FromJson(json);

        Assert.Equal("""{"rules":"word-v1","tokens":["\u003Cpad\u003E","\u003Cunk\u003E","a","$","\u003Curl\u003E","b","c"]}""", json);
        Assert.Equal(tokenizer.Vocabulary, read.Vocabulary);
        Assert.Equal(json, read.ToJson());
        Assert.Equal(tokenizer.Encode("a b c d $", 10), read.Encode("a b c d $", 10));
    }

    [Theory]
    [InlineData("not json", "malformed")]
    [InlineData("null", "null")]
    [InlineData("""{"rules":"word-v2","tokens":["<pad>","<unk>"]}""", "rules:")]
    [InlineData("""{"rules":"word-v1"}""", "tokens:")]
    [InlineData("""{"rules":"word-v1","tokens":["<unk>","<pad>"]}""", "tokens: entries 0 and 1")]
    [InlineData("""{"rules":"word-v1","tokens":["<pad>","<unk>","a","a"]}""", "tokens[3]: 'a' appears twice")]
    [InlineData("""{"rules":"word-v1","tokens":["<pad>","<unk>","a",null]}""", "tokens[3]: null")]
    [InlineData("""{"rules":"word-v1","tokens":["<pad>","<unk>","Hello"]}""", "tokens[2]: 'Hello' is not a token")]
    [InlineData("""{"rules":"word-v1","tokens":["<pad>","<unk>","two words"]}""", "tokens[2]")]
    [InlineData("""{"rules":"word-v1","tokens":["<pad>","<unk>","123456"]}""", "tokens[2]")]
    [InlineData("""{"rules":"word-v1","tokens":["<pad>","<unk>","<pad>"]}""", "tokens[2]")]
    public void Malformed_json_is_refused_naming_the_field(string json, string expected)
    {
        var error = Assert.Throws<InvalidDataException>(() => WordTokenizer.FromJson(json));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Adversarial_texts_take_linear_time()
    {
        // Each would be quadratic for a scanner that re-reads its look-ahead (e-mail local parts, URLs) from every start.
        string[] texts = [string.Concat(Enumerable.Repeat("a.", 500_000)), string.Concat(Enumerable.Repeat("a@", 500_000)), new string('9', 1_000_000)];
        var clock = Stopwatch.StartNew();

        var counts = texts.Select(t => WordTokenizer.Tokenize(t).Count).ToArray();

        Assert.Equal([500_000, 500_000, 1], counts);
        // Generous: about 0.1 s on one core; a quadratic pass over 1 M characters would take minutes.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"{clock.Elapsed}");
    }
}
