using System.Text.Json;
using System.Text.Json.Serialization;

namespace Uncertainty.Model.Text;

/// <summary>What is done to a string before it is tokenized.</summary>
[JsonConverter(typeof(Networks.NamedEnumConverter<TextPreprocessing>))]
public enum TextPreprocessing
{
    [JsonStringEnumMemberName("none")] None,

    /// <summary><see cref="EmailText.ModelText"/>: a raw e-mail becomes its subject, sender and body; plain text stays as it is.</summary>
    [JsonStringEnumMemberName("email")] Email,
}

/// <summary>
/// For a text model: how a string becomes an input row. The preprocessing and the tokenizer (rules and vocabulary) travel
/// in the model package, so the service turns a client's string into exactly the ids the network was trained on.
/// </summary>
public sealed record TextInput(
    [property: JsonConverter(typeof(WordTokenizerJsonConverter))] WordTokenizer Tokenizer,
    TextPreprocessing Preprocessing = TextPreprocessing.None)
{
    /// <summary>The ids of the first <paramref name="maxLength"/> tokens of <paramref name="text"/> (no padding; empty when it has no tokens).</summary>
    public int[] Encode(string text, int maxLength) =>
        Tokenizer.Encode(Preprocessing == TextPreprocessing.Email ? EmailText.ModelText(text) : text, maxLength);

    /// <summary>Token-id rows of <paramref name="texts"/>, each padded with id 0 to <paramref name="length"/>.</summary>
    public float[] Rows(IReadOnlyList<string> texts, int length)
    {
        var rows = new float[(long)texts.Count * length];
        for (int r = 0; r < texts.Count; r++)
        {
            var ids = Encode(texts[r], length);
            for (int t = 0; t < ids.Length; t++)
            {
                rows[((long)r * length) + t] = ids[t];
            }
        }

        return rows;
    }
}

/// <summary>Writes a tokenizer as its own JSON object ({"rules", "tokens"}) and reads it back through its validation.</summary>
public sealed class WordTokenizerJsonConverter : JsonConverter<WordTokenizer>
{
    public override WordTokenizer Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        return WordTokenizer.FromJson(document.RootElement.GetRawText());
    }

    public override void Write(Utf8JsonWriter writer, WordTokenizer value, JsonSerializerOptions options) => writer.WriteRawValue(value.ToJson());
}
