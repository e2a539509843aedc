using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Uncertainty.Api.Inference;
using Uncertainty.Api.Predictions;

namespace Uncertainty.Api.Tests;

/// <summary>The inference queue and the dynamic batcher: merging, back-pressure and timeouts, each with its own service.</summary>
public sealed class InferenceSchedulerTests
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static object Body(int i, int samples = 64) => new { inputs = new[] { new[] { (i / 32.0) - 1 } }, samples, seed = (ulong)i };

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Sixty_four_concurrent_predictions_each_equal_the_same_request_sent_alone(bool dynamicBatching)
    {
        using var factory = new UncertaintyApiFactory();
        factory.Settings["Uncertainty:DynamicBatching"] = dynamicBatching.ToString();
        factory.Settings["Uncertainty:BatchDelayMilliseconds"] = "5";
        var client = await factory.ReadyClientAsync();
        var alone = new List<PredictResponse>();
        for (int i = 0; i < 64; i++)
        {
            alone.Add((await (await client.PostAsJsonAsync("/models/toy/predict", Body(i))).Content.ReadFromJsonAsync<PredictResponse>(Json))!);
        }

        var responses = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => client.PostAsJsonAsync("/models/toy/predict", Body(i))));
        var together = await Task.WhenAll(responses.Select(r => r.Content.ReadFromJsonAsync<PredictResponse>(Json)));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        for (int i = 0; i < 64; i++)
        {
            // Merged passes may use other GEMM kernels than single ones: equal within float32 rounding.
            Assert.Equal(alone[i].Predictions[0].Mean[0], together[i]!.Predictions[0].Mean[0], 5);
            Assert.Equal(alone[i].Predictions[0].EpistemicVariance[0], together[i]!.Predictions[0].EpistemicVariance[0], 6);
        }
    }

    [Fact]
    public async Task A_full_queue_refuses_exactly_the_overflow_at_once_with_429_and_Retry_After()
    {
        using var factory = new UncertaintyApiFactory();
        factory.Settings["Uncertainty:QueueCapacity"] = "4";
        var client = await factory.ReadyClientAsync();
        var worker = factory.Services.GetRequiredService<InferenceScheduler>();
        worker.Pause();

        // Requests go in one at a time; each is either queued (the queue grows) or refused at once.
        var pending = new List<Task<HttpResponseMessage>>();
        var refusedWhilePaused = 0;
        for (int i = 0; i < 10; i++)
        {
            int queuedBefore = worker.QueueLength;
            var request = client.PostAsJsonAsync("/models/toy/predict", Body(i));
            pending.Add(request);
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while (!request.IsCompleted && worker.QueueLength == queuedBefore && waited.Elapsed < TimeSpan.FromSeconds(20))
            {
                await Task.Delay(5);
            }

            if (request.IsCompleted)
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, (await request).StatusCode);
                refusedWhilePaused++;
            }
        }

        worker.Resume();
        var all = await Task.WhenAll(pending);

        Assert.Equal(6, refusedWhilePaused);
        Assert.Equal(6, all.Count(r => r.StatusCode == HttpStatusCode.TooManyRequests));
        Assert.Equal(4, all.Count(r => r.StatusCode == HttpStatusCode.OK));
        var tooMany = all.First(r => r.StatusCode == HttpStatusCode.TooManyRequests);
        Assert.Equal("1", tooMany.Headers.GetValues("Retry-After").Single());
        Assert.Equal("application/problem+json", tooMany.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task A_request_that_outlives_its_timeout_gets_504_and_the_service_keeps_serving()
    {
        using var factory = new UncertaintyApiFactory();
        factory.Settings["Uncertainty:RequestTimeoutSeconds"] = "0.2";
        var client = await factory.ReadyClientAsync();
        var worker = factory.Services.GetRequiredService<InferenceScheduler>();
        worker.Pause();

        var timedOut = await client.PostAsJsonAsync("/models/toy/predict", Body(1));
        worker.Resume();
        var next = await client.PostAsJsonAsync("/models/toy/predict", Body(2));

        Assert.Equal(HttpStatusCode.GatewayTimeout, timedOut.StatusCode);
        var problem = await timedOut.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains("did not finish within 0.2 s", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
    }

    [Fact]
    public async Task A_request_that_finds_the_owner_idle_runs_at_once_without_waiting_the_batching_window()
    {
        // A window far longer than the time limit: a lone request that waited for company would be a 504.
        using var factory = new UncertaintyApiFactory();
        factory.Settings["Uncertainty:BatchDelayMilliseconds"] = "1000";
        factory.Settings["Uncertainty:RequestTimeoutSeconds"] = "0.5";
        var client = await factory.ReadyClientAsync();

        var answers = new List<PredictResponse>();
        for (int i = 0; i < 3; i++)
        {
            var response = await client.PostAsJsonAsync("/models/toy/predict", Body(7));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            answers.Add((await response.Content.ReadFromJsonAsync<PredictResponse>(Json))!);
        }

        // The same seed through the same path: the same numbers, bit for bit.
        Assert.All(answers, a => Assert.Equal(answers[0].Predictions[0].Mean, a.Predictions[0].Mean));
        Assert.All(answers, a => Assert.Equal(answers[0].Predictions[0].EpistemicVariance, a.Predictions[0].EpistemicVariance));
    }

    [Fact]
    public async Task Requests_that_queue_behind_a_busy_owner_are_merged_and_each_gets_the_numbers_it_gets_alone()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();
        var worker = factory.Services.GetRequiredService<InferenceScheduler>();
        var alone = new List<PredictResponse>();
        for (int i = 0; i < 8; i++)
        {
            alone.Add((await (await client.PostAsJsonAsync("/models/toy/predict", Body(i))).Content.ReadFromJsonAsync<PredictResponse>(Json))!);
        }

        // All eight wait in the paused queue, so the owner takes them into one merged pass.
        var passesBefore = worker.Passes;
        worker.Pause();
        var pending = Enumerable.Range(0, 8).Select(i => client.PostAsJsonAsync("/models/toy/predict", Body(i))).ToList();
        while (worker.QueueLength < 8)
        {
            await Task.Delay(5);
        }

        worker.Resume();
        var together = await Task.WhenAll((await Task.WhenAll(pending)).Select(r => r.Content.ReadFromJsonAsync<PredictResponse>(Json)));

        Assert.Equal(passesBefore + 1, worker.Passes);
        for (int i = 0; i < 8; i++)
        {
            // Merged passes may use other GEMM kernels than single ones: equal within float32 rounding.
            Assert.Equal(alone[i].Predictions[0].Mean[0], together[i]!.Predictions[0].Mean[0], 5);
            Assert.Equal(alone[i].Predictions[0].EpistemicVariance[0], together[i]!.Predictions[0].EpistemicVariance[0], 6);
        }
    }
}
