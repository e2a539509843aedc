using System.Text.Json;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Text;

namespace Uncertainty.Model.Data;

/// <summary>
/// Labelled e-mails: the SpamAssassin public corpus (<see cref="SequenceDatasets.SpamAssassin"/>) as it is published,
/// headers and all. <see cref="Texts"/> are the raw messages; <see cref="MessageText"/> gives what a model reads.
/// <see cref="Groups"/> is the corpus group without its collection suffix (easy-ham, hard-ham or spam);
/// <see cref="Ids"/> are unique, "{published group}/{id}" such as "easy-ham-1/00001".
/// </summary>
public sealed record TextDataset(string Name, string[] Ids, string[] Texts, int[] Labels, string[] Groups)
{
    public const int Ham = 0;

    public const int Spam = 1;

    private static readonly string[] SpamClassNames = ["ham", "spam"];

    /// <summary>Label 0 is ham, 1 is spam.</summary>
    public IReadOnlyList<string> ClassNames { get; init; } = SpamClassNames;

    public int Count => Texts.Length;

    /// <summary>Loads the fetched SpamAssassin corpus from <paramref name="cache"/> (default: the usual data cache); never downloads.</summary>
    public static TextDataset Load(DataCache? cache = null) => Load(cache ?? new DataCache(), SequenceDatasets.Find(SequenceDatasets.SpamAssassin));

    internal static TextDataset Load(DataCache cache, SequenceDatasetInfo info)
    {
        var path = Path.Combine(cache.PathOf(info.Name), info.File.FileName);
        return Parse(cache.ReadSequence(info), info.Name, path);
    }

    private sealed record MessageLine(string? Group, string? Id, string? Text);

    /// <summary>Reads messages.jsonl: one {"group","id","text"} object per line.</summary>
    internal static TextDataset Parse(ReadOnlySpan<byte> jsonLines, string name, string source)
    {
        List<string> ids = [], texts = [], groups = [];
        List<int> labels = [];
        for (int line = 1; !jsonLines.IsEmpty; line++)
        {
            int end = jsonLines.IndexOf((byte)'\n');
            var json = end < 0 ? jsonLines : jsonLines[..end];
            jsonLines = end < 0 ? [] : jsonLines[(end + 1)..];
            MessageLine? message;
            try
            {
                message = JsonSerializer.Deserialize<MessageLine>(json, JsonSerializerOptions.Web);
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{source}: line {line}: {e.Message}", e);
            }

            if (message is not { Group: { } group, Id: { } id, Text: { } text } || Array.IndexOf(SequenceExtractor.MessageGroups, group) < 0)
            {
                throw new InvalidDataException($"{source}: line {line}: expected {{\"group\", \"id\", \"text\"}} with group one of {string.Join(", ", SequenceExtractor.MessageGroups)}.");
            }

            ids.Add($"{group}/{id}");
            texts.Add(text);
            groups.Add(group[..group.LastIndexOf('-')]);
            labels.Add(group.StartsWith("spam", StringComparison.Ordinal) ? Spam : Ham);
        }

        return new TextDataset(name, [.. ids], [.. texts], [.. labels], [.. groups]);
    }

    /// <summary>
    /// The text a model reads from a raw e-mail: the Subject and From header values, then the body with HTML tags
    /// removed and runs of white space collapsed (see <see cref="EmailText.ModelText"/> for why only these).
    /// </summary>
    public static string MessageText(string rawEmail) => EmailText.ModelText(rawEmail);

    /// <summary>The given messages, in the given order.</summary>
    public TextDataset Subset(IReadOnlyList<int> rows) => this with
    {
        Ids = [.. rows.Select(r => Ids[r])],
        Texts = [.. rows.Select(r => Texts[r])],
        Labels = [.. rows.Select(r => Labels[r])],
        Groups = [.. rows.Select(r => Groups[r])],
    };

    /// <summary>
    /// A seeded split stratified by <see cref="Groups"/>: each group puts round(<paramref name="testFraction"/> x its size)
    /// messages (at least one, and at least one left for training, when it has two or more) into the test part, so
    /// the few hard-ham messages appear in both. Both parts keep the dataset's order; the same seed gives the same split.
    /// </summary>
    public (TextDataset Train, TextDataset Test) Split(double testFraction, ulong seed)
    {
        var split = SplitRows(testFraction, seed);
        return (Subset(split.Train), Subset(split.Test));
    }

    /// <summary>The row indices of <see cref="Split"/>'s two parts.</summary>
    public DataSplit SplitRows(double testFraction, ulong seed)
    {
        if (!(testFraction > 0 && testFraction < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(testFraction), testFraction, "The test fraction must be in (0, 1).");
        }

        var test = new List<int>();
        ulong draws = 0;
        foreach (var group in Groups.Distinct().Order(StringComparer.Ordinal))
        {
            var rows = Enumerable.Range(0, Count).Where(r => Groups[r] == group).ToArray();
            // Fisher-Yates driven by the SplitMix64 stream of the seed (System.Random takes only an int seed).
            for (int i = rows.Length - 1; i > 0; i--)
            {
                int j = (int)Math.BigMul(DropoutMasks.SplitMix64(seed + (++draws * 0x9E3779B97F4A7C15UL)), (ulong)(i + 1), out _);
                (rows[i], rows[j]) = (rows[j], rows[i]);
            }

            int take = rows.Length < 2 ? 0 : Math.Clamp((int)Math.Round(rows.Length * testFraction), 1, rows.Length - 1);
            test.AddRange(rows[..take]);
        }

        var inTest = test.ToHashSet();
        return new DataSplit([.. Enumerable.Range(0, Count).Where(r => !inTest.Contains(r))], [.. test.Order()]);
    }
}
