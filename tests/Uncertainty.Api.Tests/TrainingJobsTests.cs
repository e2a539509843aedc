using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Uncertainty.Api.Models;
using Uncertainty.Api.Predictions;
using Uncertainty.Api.Training;

namespace Uncertainty.Api.Tests;

public sealed class TrainingJobsTests
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    [Fact]
    public async Task A_job_on_a_bundled_dataset_trains_registers_and_serves_a_new_default_version()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();

        var response = await client.PostAsJsonAsync("/training-jobs", new
        {
            model = "boston-small",
            dataset = "boston",
            network = new { hidden = new[] { 16 }, hiddenDropout = new[] { 0.05 } },
            training = new { epochs = 6, batchSize = 32, learningRate = 0.01, seed = 3, validationFraction = 0.2 },
            makeDefault = true,
        });

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var location = response.Headers.Location!.ToString();
        var submitted = (await response.Content.ReadFromJsonAsync<TrainingJob>(Json))!;
        Assert.Equal($"/training-jobs/{submitted.Id}", location);
        Assert.Equal(506, submitted.Rows);

        var job = await WaitForAsync(client, location, j => j.Finished);
        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Equal(1, job.Version);
        Assert.True(job.MadeDefault);
        Assert.Equal(6, job.Epoch);
        Assert.Equal([1, 2, 3, 4, 5, 6], job.History.Select(p => p.Epoch));
        Assert.All(job.History, p => Assert.NotNull(p.ValidationMetric));
        Assert.Equal("rmse", job.MetricName, ignoreCase: true);
        Assert.Equal(0, job.EtaSeconds);

        var model = await client.GetFromJsonAsync<ModelDetails>("/models/boston-small", Json);
        Assert.Equal(1, model!.DefaultVersion);
        Assert.Equal([16], model.Network.Hidden);
        var training = model.Versions.Single().Training!;
        Assert.Equal(6, training.Epochs);
        Assert.Equal(job.History.Single(p => p.Epoch == training.BestEpoch).ValidationMetric, training.BestValidationMetric);
        Assert.Equal(13, model.Inputs.Count);
        var prediction = await client.PostAsJsonAsync("/models/boston-small/predict", new { inputs = new[] { new double[13] }, samples = 20, seed = 1 });
        Assert.Equal(HttpStatusCode.OK, prediction.StatusCode);

        var listed = await client.GetFromJsonAsync<List<TrainingJob>>("/training-jobs", Json);
        Assert.Contains(listed!, j => j.Id == job.Id);
        Assert.True(File.Exists(Path.Combine(factory.ModelStore, ".jobs", job.Id, "job.json")), "job state is persisted");
    }

    [Fact]
    public async Task A_csv_upload_trains_a_model_whose_inputs_are_the_csv_header()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();
        var csv = new StringBuilder("size,rooms,price\n");
        var random = new Random(7);
        for (int i = 0; i < 80; i++)
        {
            var size = random.NextDouble() * 100;
            var rooms = random.Next(1, 6);
            csv.Append(CultureInfo.InvariantCulture, $"{size:0.###},{rooms},{(2 * size) + (10 * rooms) + random.NextDouble():0.###}\n");
        }

        using var form = new MultipartFormDataContent
        {
            { new StringContent("""{"model": "houses", "target": "price", "training": {"epochs": 3, "batchSize": 16}}""", Encoding.UTF8, "application/json"), "request" },
            { new ByteArrayContent(Encoding.UTF8.GetBytes(csv.ToString())), "data", "houses.csv" },
        };
        var response = await client.PostAsync("/training-jobs", form);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var job = await WaitForAsync(client, response.Headers.Location!.ToString(), j => j.Finished);
        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Equal("upload", job.Data);
        var model = await client.GetFromJsonAsync<ModelDetails>("/models/houses", Json);
        Assert.Equal(["size", "rooms"], model!.Inputs);
        Assert.Equal(["price"], model.Outputs);
        var byName = await client.PostAsJsonAsync("/models/houses/predict", new { inputs = new[] { new { size = 50.0, rooms = 3.0 } }, samples = 10, seed = 2 });
        Assert.Equal(HttpStatusCode.OK, byName.StatusCode);
    }

    [Theory]
    [InlineData("""{"dataset": "boston"}""", "model")]
    [InlineData("""{"model": "Bad Name", "dataset": "boston"}""", "model")]
    [InlineData("""{"model": "m"}""", "dataset")]
    [InlineData("""{"model": "m", "dataset": "boston", "csv": "a,b\n1,2\n"}""", "dataset")]
    [InlineData("""{"model": "m", "dataset": "no-such-data"}""", "dataset")]
    [InlineData("""{"model": "m", "dataset": "boston", "target": "nope"}""", "dataset")]
    [InlineData("""{"model": "m", "csv": "a,b\nx,2\n"}""", "data")]
    [InlineData("""{"model": "m", "csv": "a,b\n1,yes\n2,yes\n"}""", "target")]
    [InlineData("""{"model": "m", "dataset": "boston", "training": {"epochs": 20001}}""", "training.epochs")]
    [InlineData("""{"model": "m", "dataset": "boston", "training": {"learningRate": -1}}""", "training")]
    [InlineData("""{"model": "m", "dataset": "boston", "network": {"hidden": []}}""", "network")]
    [InlineData("""{"model": "m", "dataset": "boston", "network": {"hiddenDropout": [1.5]}}""", "network")]
    public async Task Bad_training_requests_get_a_validation_problem_naming_the_field(string body, string field)
    {
        using var factory = new UncertaintyApiFactory();
        var client = factory.CreateClient();

        var response = await client.PostAsync("/training-jobs", new StringContent(body, Encoding.UTF8, "application/json"));

        var problem = await Problems.ReadAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"no error for '{field}' in {problem}");
    }

    [Fact]
    public async Task A_running_job_is_cancelled_and_a_finished_one_cannot_be()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();
        var response = await client.PostAsJsonAsync("/training-jobs", new { model = "long", dataset = "boston", training = new { epochs = 20000 } });
        var location = response.Headers.Location!.ToString();
        await WaitForAsync(client, location, j => j.Epoch >= 1);

        var cancel = await client.DeleteAsync(location);
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        var job = await WaitForAsync(client, location, j => j.Finished);

        Assert.Equal(JobState.Cancelled, job.State);
        Assert.True(job.Epoch < 20000);
        Assert.Null(job.Version);
        Assert.False(Directory.Exists(Path.Combine(factory.ModelStore, "long")), "a cancelled job registers nothing");
        await Problems.ReadAsync(await client.DeleteAsync(location), HttpStatusCode.Conflict);
        await Problems.ReadAsync(await client.GetAsync($"/training-jobs/{new string('0', 32)}"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_full_training_queue_refuses_the_next_job_with_429()
    {
        using var factory = new UncertaintyApiFactory();
        factory.Settings["Uncertainty:MaxQueuedTrainingJobs"] = "1";
        var client = await factory.ReadyClientAsync();
        var body = new { model = "busy", dataset = "boston", training = new { epochs = 20000 } };

        var running = await client.PostAsJsonAsync("/training-jobs", body);
        await WaitForAsync(client, running.Headers.Location!.ToString(), j => j.State == JobState.Running);
        var waiting = await client.PostAsJsonAsync("/training-jobs", body);
        var refused = await client.PostAsJsonAsync("/training-jobs", body);

        Assert.Equal(HttpStatusCode.Accepted, waiting.StatusCode);
        await Problems.ReadAsync(refused, HttpStatusCode.TooManyRequests);
        Assert.NotNull(refused.Headers.RetryAfter);

        // A queued job is cancelled at once, and its place in the queue is free again.
        var cancelled = await (await client.DeleteAsync(waiting.Headers.Location)).Content.ReadFromJsonAsync<TrainingJob>(Json);
        Assert.Equal(JobState.Cancelled, cancelled!.State);
        var next = await client.PostAsJsonAsync("/training-jobs", body);
        Assert.Equal(HttpStatusCode.Accepted, next.StatusCode);
        await client.DeleteAsync(next.Headers.Location);
        await client.DeleteAsync(running.Headers.Location);
        await WaitForAsync(client, running.Headers.Location!.ToString(), j => j.Finished);
    }

    [Fact]
    public async Task On_restart_a_job_left_running_is_marked_failed_and_a_queued_one_runs()
    {
        using var factory = new UncertaintyApiFactory();
        var crashed = TrainingJobStore.NewId();
        var queued = TrainingJobStore.NewId();
        WriteJob(factory.ModelStore, crashed, JobState.Running, epoch: 7);
        WriteJob(factory.ModelStore, queued, JobState.Queued, epoch: 0);

        var client = await factory.ReadyClientAsync();
        var failed = await client.GetFromJsonAsync<TrainingJob>($"/training-jobs/{crashed}", Json);
        var resumed = await WaitForAsync(client, $"/training-jobs/{queued}", j => j.Finished);

        Assert.Equal(JobState.Failed, failed!.State);
        Assert.Contains("stopped while this job was running", failed.Error, StringComparison.Ordinal);
        Assert.Contains("epoch 7", failed.Error, StringComparison.Ordinal);
        Assert.Equal(JobState.Succeeded, resumed.State);
        var persisted = JsonSerializer.Deserialize<TrainingJob>(File.ReadAllText(Path.Combine(factory.ModelStore, ".jobs", crashed, "job.json")), Json);
        Assert.Equal(JobState.Failed, persisted!.State);
    }

    private static void WriteJob(string store, string id, JobState state, int epoch)
    {
        var directory = Path.Combine(store, ".jobs", id);
        Directory.CreateDirectory(directory);
        var request = new TrainingJobRequest("restarted", Dataset: "boston", Network: new NetworkRequest { Hidden = [8] }, Training: new Uncertainty.Model.Training.TrainingOptions { Epochs = 2 });
        File.WriteAllText(Path.Combine(directory, "request.json"), JsonSerializer.Serialize(request, Json));
        var job = new TrainingJob { Id = id, Model = "restarted", Data = "boston", Rows = 506, State = state, Epoch = epoch, Epochs = 2, CreatedAt = DateTimeOffset.UtcNow, StartedAt = state == JobState.Running ? DateTimeOffset.UtcNow : null };
        File.WriteAllText(Path.Combine(directory, "job.json"), JsonSerializer.Serialize(job, Json));
    }

    private static async Task<TrainingJob> WaitForAsync(HttpClient client, string location, Func<TrainingJob, bool> condition)
    {
        for (int attempt = 0; attempt < 1200; attempt++)
        {
            var job = (await client.GetFromJsonAsync<TrainingJob>(location, Json))!;
            if (condition(job))
            {
                return job;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"{location} did not reach the expected state in 60 s.");
    }
}
