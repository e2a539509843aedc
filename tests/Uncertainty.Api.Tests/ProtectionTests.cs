using System.Net;
using System.Net.Http.Json;
using System.Text;

namespace Uncertainty.Api.Tests;

/// <summary>API keys, rate limits and body limits (the metrics endpoint: <see cref="MetricsTests"/>).</summary>
public sealed class ProtectionTests
{
    private const string Key = "k3y-for-tests-0123456789abcdef";

    private static readonly object ToyRequest = new { inputs = new[] { new[] { 0.0 } }, samples = 10, seed = 1 };

    [Fact]
    public async Task Mutating_endpoints_need_a_valid_key_once_keys_are_configured()
    {
        using var factory = new UncertaintyApiFactory();
        factory.Settings["Uncertainty:ApiKeys:0"] = Key;
        var client = await factory.ReadyClientAsync();
        var training = new { model = "keyed", dataset = "boston", training = new { epochs = 1 } };

        var missing = await client.PutAsJsonAsync("/models/toy/default-version", new { version = 1 });
        var wrong = await Send(client, HttpMethod.Put, "/models/toy/default-version", new { version = 1 }, "wrong-key-0123456789abcdef");
        var right = await Send(client, HttpMethod.Put, "/models/toy/default-version", new { version = 1 }, Key);
        var trainingWithout = await client.PostAsJsonAsync("/training-jobs", training);
        var trainingWith = await Send(client, HttpMethod.Post, "/training-jobs", training, Key);
        var prediction = await client.PostAsJsonAsync("/models/toy/predict", ToyRequest);
        var reading = await client.GetAsync("/models");

        var unauthorised = await Problems.ReadAsync(missing, HttpStatusCode.Unauthorized);
        Assert.Contains("X-Api-Key", unauthorised.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await Problems.ReadAsync(wrong, HttpStatusCode.Forbidden);
        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        await Problems.ReadAsync(trainingWithout, HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.Accepted, trainingWith.StatusCode);
        Assert.Equal(HttpStatusCode.OK, prediction.StatusCode); // inference stays open unless asked
        Assert.Equal(HttpStatusCode.OK, reading.StatusCode);
    }

    [Fact]
    public async Task Inference_can_be_keyed_too()
    {
        using var factory = new UncertaintyApiFactory();
        factory.Settings["Uncertainty:ApiKeys:0"] = Key;
        factory.Settings["Uncertainty:RequireApiKeyForInference"] = "true";
        var client = await factory.ReadyClientAsync();

        var without = await client.PostAsJsonAsync("/models/toy/predict", ToyRequest);
        var with = await Send(client, HttpMethod.Post, "/models/toy/predict", ToyRequest, Key);

        await Problems.ReadAsync(without, HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.OK, with.StatusCode);
    }

    [Fact]
    public async Task Requests_over_the_rate_limit_get_429_with_retry_after_and_probes_are_never_limited()
    {
        using var factory = new UncertaintyApiFactory();
        factory.Settings["Uncertainty:RateLimitPerMinute"] = "3";
        var client = await factory.ReadyClientAsync();

        var answers = new List<HttpResponseMessage>();
        for (int i = 0; i < 4; i++)
        {
            answers.Add(await client.GetAsync("/models"));
        }

        var probes = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => client.GetAsync("/health/live")));

        Assert.All(answers.Take(3), a => Assert.Equal(HttpStatusCode.OK, a.StatusCode));
        var limited = await Problems.ReadAsync(answers[3], HttpStatusCode.TooManyRequests);
        Assert.Contains("3 requests a minute", limited.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.True(answers[3].Headers.RetryAfter?.Delta > TimeSpan.Zero, "Retry-After in seconds");
        Assert.All(probes, p => Assert.Equal(HttpStatusCode.OK, p.StatusCode));
    }

    [Fact]
    public async Task Bodies_over_the_limit_get_413_and_uploads_have_their_own_limit()
    {
        using var factory = new UncertaintyApiFactory();
        factory.Settings["Uncertainty:MaxRequestBodyBytes"] = "2048";
        factory.Settings["Uncertainty:MaxUploadBytes"] = "1048576";
        var client = await factory.ReadyClientAsync();
        var rows = string.Join(",", Enumerable.Repeat("[0.125]", 400)); // ~3.2 kB
        var csv = "x,y\n" + string.Concat(Enumerable.Range(0, 400).Select(i => $"{i},{2 * i}\n")); // ~4 kB

        var tooLarge = await client.PostAsync("/models/toy/predict", new StringContent($"{{\"inputs\": [{rows}]}}", Encoding.UTF8, "application/json"));
        var upload = await client.PostAsJsonAsync("/training-jobs", new { model = "upload", csv, training = new { epochs = 1 } });

        var problem = await Problems.ReadAsync(tooLarge, HttpStatusCode.RequestEntityTooLarge);
        Assert.Contains("2048 bytes", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Accepted, upload.StatusCode);
    }

    private static Task<HttpResponseMessage> Send(HttpClient client, HttpMethod method, string path, object body, string key)
    {
        var request = new HttpRequestMessage(method, path) { Content = JsonContent.Create(body) };
        request.Headers.Add("X-Api-Key", key);
        return client.SendAsync(request);
    }
}
