using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Uncertainty.Api.Models;
using Uncertainty.Model.Data;
using Uncertainty.Model.Packaging;

namespace Uncertainty.Api.Training;

/// <summary>
/// Training jobs on disk: {root}/{id}/job.json (state, rewritten atomically), request.json and, for uploads,
/// data.csv. The request and data are written before the job file, so a job on disk can always be re-run.
/// </summary>
public sealed partial class TrainingJobStore(IOptions<UncertaintyOptions> options, ModelStore models, IHostEnvironment environment)
{
    private const string JobFile = "job.json";
    private const string RequestFile = "request.json";
    private const string DataFile = "data.csv";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The job directory: <see cref="UncertaintyOptions.JobStore"/>, or ".jobs" inside the model store.</summary>
    public string Root { get; } = options.Value.JobStore is { Length: > 0 } configured
        ? Path.GetFullPath(configured, environment.ContentRootPath)
        : Path.Combine(models.Root, ".jobs");

    /// <summary>Job ids are version-7 GUIDs in hex: time-ordered, and safe as directory names.</summary>
    [GeneratedRegex("^[0-9a-f]{32}$")]
    public static partial Regex ValidId();

    /// <summary><paramref name="message"/> without the server's absolute paths.</summary>
    public string Redact(string message) => models.Redact(message.Replace(Root + Path.DirectorySeparatorChar, "", StringComparison.Ordinal));

    public static string NewId() => Guid.CreateVersion7().ToString("N");

    public void Create(TrainingJob job, TrainingJobRequest request)
    {
        var directory = JobDirectory(job.Id);
        Directory.CreateDirectory(directory);
        if (request.Csv is { } csv)
        {
            AtomicFile.WriteAllBytes(Path.Combine(directory, DataFile), Encoding.UTF8.GetBytes(csv));
        }

        AtomicFile.WriteAllBytes(Path.Combine(directory, RequestFile), JsonSerializer.SerializeToUtf8Bytes(request with { Csv = null }, Json));
        Save(job);
        AtomicFile.FlushDirectory(Root);
    }

    public void Save(TrainingJob job) =>
        AtomicFile.WriteAllBytes(Path.Combine(JobDirectory(job.Id), JobFile), JsonSerializer.SerializeToUtf8Bytes(job, Json));

    /// <summary>Every job with its request; directories without a readable job file (a crash before it was written) are skipped.</summary>
    /// <summary>
    /// Every readable job with its request. A job directory whose files cannot be read or do not describe a job
    /// of that id is renamed aside (*.unreadable) and reported through <paramref name="skipped"/>: one damaged
    /// file must never stop the service from starting.
    /// </summary>
    public IReadOnlyList<(TrainingJob Job, TrainingJobRequest Request)> LoadAll(Action<string, string> skipped)
    {
        var loaded = new List<(TrainingJob, TrainingJobRequest)>();
        if (!Directory.Exists(Root))
        {
            return loaded;
        }

        foreach (var directory in Directory.GetDirectories(Root).Order(StringComparer.Ordinal))
        {
            var id = Path.GetFileName(directory);
            if (!ValidId().IsMatch(id))
            {
                continue;
            }

            // Half-written state files from a crash (the atomic writes' temporaries) are removed, not read.
            foreach (var leftover in Directory.GetFiles(directory, ".*.tmp"))
            {
                File.Delete(leftover);
            }

            var jobFile = Path.Combine(directory, JobFile);
            var requestFile = Path.Combine(directory, RequestFile);
            if (!File.Exists(jobFile) || !File.Exists(requestFile))
            {
                continue; // a crash before the job file was written: nothing was accepted
            }

            try
            {
                var job = JsonSerializer.Deserialize<TrainingJob>(File.ReadAllBytes(jobFile), Json);
                var request = JsonSerializer.Deserialize<TrainingJobRequest>(File.ReadAllBytes(requestFile), Json);
                if (job is null || request is null || job.Id != id || job.Model is null || !ModelStore.ValidName().IsMatch(job.Model) || request.Model != job.Model)
                {
                    throw new InvalidDataException("the files do not describe a job with this id");
                }

                loaded.Add((job, request));
            }
            catch (Exception e) when (e is JsonException or InvalidDataException or IOException or NotSupportedException)
            {
                var aside = $"{directory}.{Guid.NewGuid():N}.unreadable";
                Directory.Move(directory, aside);
                skipped(Redact(directory), Redact(e.Message));
            }
        }

        return loaded;
    }

    /// <summary>The job's rows: its uploaded CSV, or the bundled dataset it names.</summary>
    public Dataset LoadData(string id, TrainingJobRequest request)
    {
        var upload = Path.Combine(JobDirectory(id), DataFile);
        return File.Exists(upload)
            ? CsvLoader.Load(upload, CsvOptionsFor(request))
            : Read(request);
    }

    /// <summary>
    /// Where the job's <paramref name="rows"/> rows come from, as the model version records it: its uploaded CSV (by the
    /// SHA-256 of the bytes stored), an image set's training split (its test split held out), or the named dataset.
    /// </summary>
    public DataSource SourceOf(string id, TrainingJobRequest request, int rows)
    {
        var upload = Path.Combine(JobDirectory(id), DataFile);
        if (File.Exists(upload))
        {
            return new DataSource(null, TrainingData.HashOf(File.ReadAllBytes(upload)), rows);
        }

        if (ImageDatasets.All.FirstOrDefault(d => d.Name == request.Dataset && !d.Bundled) is { } images)
        {
            var (all, indices) = ImageDatasets.RowsOf(images.Name, ImageSplit.Train);
            return new DataSource(images.Name, null, all, indices, $"{images.Name}'s test split held out");
        }

        return DataSource.Named(request.Dataset!, rows);
    }

    /// <summary>The rows a request names, read from the request itself (to check it before it is queued).</summary>
    public static Dataset Read(TrainingJobRequest request)
    {
        if (request.Csv is { } csv)
        {
            using var reader = new StringReader(csv);
            return CsvLoader.Load(reader, "upload", CsvOptionsFor(request));
        }

        // The image sets are read from the data cache (never fetched here: a missing one is a 400 naming the fetch command).
        if (ImageDatasets.All.FirstOrDefault(d => d.Name == request.Dataset && !d.Bundled) is { } images)
        {
            return ImageDatasets.Load(images.Name, ImageSplit.Train).ToDataset();
        }

        return BundledDatasets.Load(request.Dataset!, request.Target, request.Features, request.Task);
    }

    /// <summary>The datasets a job may name: the bundled ones, and the image and sequence sets of the data cache.</summary>
    public static IEnumerable<string> DatasetNames =>
        BundledDatasets.All.Select(d => d.Name).Concat(ImageDatasets.All.Where(d => !d.Bundled).Select(d => d.Name)).Concat(SequenceDatasets.All.Select(d => d.Name));

    private static CsvOptions CsvOptionsFor(TrainingJobRequest request) => new()
    {
        Target = request.Target ?? "-1",
        Features = request.Features,
        Task = request.Task,
    };

    private string JobDirectory(string id) =>
        ValidId().IsMatch(id) ? Path.Combine(Root, id) : throw new ArgumentException($"'{id}' is not a job id.", nameof(id));
}
