using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Uncertainty.Api.Inference;
using Uncertainty.Api.Training;
using Uncertainty.Api.Predictions;
using Uncertainty.Api.Problems;

namespace Uncertainty.Api.Tests;

/// <summary>Graceful shutdown: queued predictions are finished, running training jobs are kept for the next start.</summary>
public sealed class ShutdownTests
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static PredictRequest Request(int seed) => new([JsonSerializer.SerializeToElement(new[] { 0.25 })], Samples: 32, Seed: (ulong)seed);

    [Fact]
    public async Task Stopping_finishes_the_queued_predictions_within_the_grace_period()
    {
        using var factory = new UncertaintyApiFactory();
        await factory.ReadyClientAsync();
        var worker = factory.Services.GetRequiredService<InferenceScheduler>();
        var predictions = factory.Services.GetRequiredService<PredictionService>();
        worker.Pause();
        var queued = Enumerable.Range(0, 8).Select(i => predictions.PredictAsync("toy", null, Request(i), CancellationToken.None)).ToList();
        while (worker.QueueLength < 8)
        {
            await Task.Delay(5);
        }

        var stopping = worker.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        await Assert.ThrowsAsync<ServiceUnavailableException>(() => predictions.PredictAsync("toy", null, Request(99), CancellationToken.None)); // no new work
        worker.Resume();
        await stopping;

        var results = await Task.WhenAll(queued);
        Assert.All(results, r => Assert.Equal(32, r.Prediction.SamplesUsed));
    }

    [Fact]
    public async Task When_the_grace_period_runs_out_the_rest_is_cancelled()
    {
        using var factory = new UncertaintyApiFactory();
        await factory.ReadyClientAsync();
        var worker = factory.Services.GetRequiredService<InferenceScheduler>();
        worker.Pause();
        var queued = factory.Services.GetRequiredService<PredictionService>().PredictAsync("toy", null, Request(1), CancellationToken.None);
        while (worker.QueueLength < 1)
        {
            await Task.Delay(5);
        }

        await worker.StopAsync(new CancellationToken(canceled: true));
        worker.Resume();

        await Assert.ThrowsAsync<ServiceUnavailableException>(() => queued);
    }

    [Fact]
    public async Task A_job_running_at_a_graceful_stop_is_queued_again_and_runs_on_the_next_start()
    {
        string store;
        string location;
        using (var first = new UncertaintyApiFactory { DeleteStoreOnDispose = false })
        {
            store = first.ModelStore;
            var client = await first.ReadyClientAsync();
            var submitted = await client.PostAsJsonAsync("/training-jobs", new { model = "survivor", dataset = "boston", training = new { epochs = 20000 } });
            location = submitted.Headers.Location!.ToString();
            while ((await client.GetFromJsonAsync<TrainingJob>(location, Json))!.State != JobState.Running)
            {
                await Task.Delay(20);
            }
        }

        var persisted = JsonSerializer.Deserialize<TrainingJob>(File.ReadAllText(Path.Combine(store, ".jobs", location.Split('/')[^1], "job.json")), Json)!;
        Assert.Equal(JobState.Queued, persisted.State);

        using (var second = new UncertaintyApiFactory())
        {
            second.Settings["Uncertainty:ModelStore"] = store;
            var again = await second.ReadyClientAsync();
            TrainingJob job;
            do
            {
                job = (await again.GetFromJsonAsync<TrainingJob>(location, Json))!;
                await Task.Delay(20);
            }
            while (job.State == JobState.Queued);

            Assert.Equal(JobState.Running, job.State);
            await again.DeleteAsync(location);
            while (!(await again.GetFromJsonAsync<TrainingJob>(location, Json))!.Finished)
            {
                await Task.Delay(20);
            }
        }

        UncertaintyApiFactory.DeleteTemporaryDirectory(store);
    }
}
