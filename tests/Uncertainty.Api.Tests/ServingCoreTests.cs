using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Uncertainty.Api.Inference;
using Uncertainty.Api.Models;
using Uncertainty.Model.Data;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;
using Uncertainty.Model.Training;

namespace Uncertainty.Api.Tests;

/// <summary>
/// The serving core under the faults an operator meets: version switches under traffic, versions that cannot
/// load, huge specs, malformed bodies, hostile names. Each test reproduces a failure seen before the redesign.
/// </summary>
public sealed class ServingCoreTests
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private static readonly object Probe = new { inputs = new[] { new[] { 0.5 } }, samples = 100, seed = 42 };

    /// <summary>A toy-like regressor trained on other data (so its weights and input scaling differ), with 1 or 2 inputs.</summary>
    private static ModelPackage Variant(int seed, int inputs = 1)
    {
        var random = new Random(seed);
        var x = Enumerable.Range(0, 64 * inputs).Select(_ => (float)((random.NextDouble() * 4) - 1)).ToArray();
        var y = Enumerable.Range(0, 64).Select(r => (float)Math.Cos(2 * x[r * inputs])).ToArray();
        var names = inputs == 1 ? new[] { "x" } : [.. Enumerable.Range(0, inputs).Select(i => $"x{i}")];
        var data = new Dataset("variant", names, x, "y", y);
        var spec = new NetworkSpec { Inputs = inputs, Hidden = [16], HiddenDropout = [0.2] };
        return TrainingPipeline.Fit(data, spec, new TrainingOptions { Epochs = 5, BatchSize = 16, Seed = (ulong)seed });
    }

    private static async Task<int> AddAsync(UncertaintyApiFactory factory, string name, ModelPackage package, bool makeDefault = false, bool replaceSchema = false)
    {
        using (package)
        {
            return (await factory.Services.GetRequiredService<ModelRegistry>().AddVersionAsync(name, package, makeDefault, replaceSchema, CancellationToken.None)).Version;
        }
    }

    /// <summary>The job a 202 answer points at, once it is no longer queued or running.</summary>
    internal static async Task<JsonElement> FinishedJobAsync(HttpClient client, HttpResponseMessage submitted)
    {
        Assert.True(submitted.StatusCode == HttpStatusCode.Accepted, await submitted.Content.ReadAsStringAsync());
        JsonElement job;
        do
        {
            await Task.Delay(50);
            job = await client.GetFromJsonAsync<JsonElement>(submitted.Headers.Location, Json);
        }
        while (job.GetProperty("state").GetString() is "queued" or "running");

        return job;
    }

    private static async Task<(int Version, double Mean)> MeanAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (body.GetProperty("version").GetInt32(), body.GetProperty("predictions")[0].GetProperty("mean")[0].GetDouble());
    }

    [Fact]
    public async Task Every_answer_during_default_switches_under_load_is_exactly_its_versions_answer()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();
        var second = await AddAsync(factory, "toy", Variant(7));
        var reference = new Dictionary<int, double>
        {
            [1] = (await MeanAsync(await client.PostAsJsonAsync("/models/toy/versions/1/predict", Probe))).Mean,
            [second] = (await MeanAsync(await client.PostAsJsonAsync($"/models/toy/versions/{second}/predict", Probe))).Mean,
        };
        Assert.True(Math.Abs(reference[1] - reference[second]) > 0.05, "the two versions must give different answers for the test to mean anything");

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(6));
        var answers = new ConcurrentBag<(int Version, double Mean)>();
        var clients = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                answers.Add(await MeanAsync(await client.PostAsJsonAsync("/models/toy/predict", Probe)));
            }
        })).ToList();
        int switches = 0;
        while (!stop.IsCancellationRequested)
        {
            var target = switches++ % 2 == 0 ? second : 1;
            Assert.Equal(HttpStatusCode.OK, (await client.PutAsJsonAsync("/models/toy/default-version", new { version = target })).StatusCode);
        }

        await Task.WhenAll(clients);

        // CPU reproducibility (on by default) makes a merged answer bit-identical to the lone one.
        var wrong = answers.Count(a => a.Mean != reference[a.Version]);
        Assert.True(switches > 10 && answers.Count > 50, $"{switches} switches, {answers.Count} answers: too few to test anything");
        Assert.Equal(0, wrong);
        Assert.Contains(answers, a => a.Version == 1);
        Assert.Contains(answers, a => a.Version == second);
    }

    [Fact]
    public async Task Over_the_memory_budget_versions_are_evicted_and_reloaded_and_answers_stay_exact()
    {
        using var factory = new UncertaintyApiFactory();
        factory.Settings["Uncertainty:ModelMemoryBytes"] = "4096"; // one built-in (~3 KB of weights) at a time
        var client = await factory.ReadyClientAsync();
        var bostonRow = new { inputs = new[] { new[] { 0.00632, 18, 2.31, 0, 0.538, 6.575, 65.2, 4.09, 1, 296, 15.3, 396.9, 4.98 } }, samples = 50, seed = 3 };
        var reference = new Dictionary<string, double>
        {
            ["toy"] = (await MeanAsync(await client.PostAsJsonAsync("/models/toy/predict", Probe))).Mean,
            ["boston"] = (await MeanAsync(await client.PostAsJsonAsync("/models/boston/predict", bostonRow))).Mean,
        };

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(4));
        var wrong = new ConcurrentBag<string>();
        int answered = 0;
        var clients = Enumerable.Range(0, 6).Select(i => Task.Run(async () =>
        {
            var model = i % 2 == 0 ? "toy" : "boston";
            while (!stop.IsCancellationRequested)
            {
                var (_, mean) = await MeanAsync(await client.PostAsJsonAsync($"/models/{model}/predict", model == "toy" ? Probe : bostonRow));
                Interlocked.Increment(ref answered);
                if (mean != reference[model])
                {
                    wrong.Add($"{model}: {mean} instead of {reference[model]}");
                }
            }
        })).ToList();
        await Task.WhenAll(clients);

        Assert.True(answered > 20, $"only {answered} answers");
        Assert.Empty(wrong);
        var health = await client.GetFromJsonAsync<JsonElement>("/health/ready", Json);
        Assert.Equal(1, health.GetProperty("models").EnumerateArray().Count(m => m.GetProperty("state").GetString() == "loaded"));
    }

    [Fact]
    public async Task The_openapi_document_asks_for_a_key_only_where_a_policy_applies()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();
        var document = await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json", Json);

        bool Secured(string path, string method) => document.GetProperty("paths").GetProperty(path).GetProperty(method).TryGetProperty("security", out _);

        // Document-wide, only the anonymous requirement ({}): no key is asked for there.
        Assert.True(!document.TryGetProperty("security", out var global) || global.EnumerateArray().All(r => !r.EnumerateObject().Any()), "no document-wide key requirement");
        Assert.True(Secured("/models/{name}/import", "post"));
        Assert.True(Secured("/training-jobs", "post"));
        Assert.True(Secured("/models/{name}/default-version", "put"));
        Assert.False(Secured("/models", "get"));
        Assert.False(Secured("/health/ready", "get"));
    }

    [Fact]
    public async Task Requests_to_one_version_always_succeed_while_the_default_flips_to_a_version_with_other_inputs()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();
        var wide = await AddAsync(factory, "toy", Variant(3, inputs: 2), replaceSchema: true);

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(4));
        var statuses = new ConcurrentBag<HttpStatusCode>();
        var clients = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                statuses.Add((await client.PostAsJsonAsync("/models/toy/versions/1/predict", Probe)).StatusCode);
            }
        })).ToList();
        for (int i = 0; !stop.IsCancellationRequested; i++)
        {
            await client.PutAsJsonAsync("/models/toy/default-version", new { version = i % 2 == 0 ? wide : 1 });
        }

        await Task.WhenAll(clients);
        Assert.NotEmpty(statuses);
        Assert.All(statuses, status => Assert.Equal(HttpStatusCode.OK, status));
    }

    [Fact]
    public async Task A_version_added_without_make_default_never_changes_what_is_served_on_a_fresh_store()
    {
        using var factory = new UncertaintyApiFactory { SeedBuiltIns = false }; // the service seeds the built-ins itself
        var client = await factory.ReadyClientAsync();
        var before = await MeanAsync(await client.PostAsJsonAsync("/models/toy/predict", Probe));

        var added = await AddAsync(factory, "toy", Variant(11), makeDefault: false);
        var after = await MeanAsync(await client.PostAsJsonAsync("/models/toy/predict", Probe));
        var models = await client.GetFromJsonAsync<JsonElement>("/models", Json);

        Assert.Equal(2, added);
        Assert.Equal((1, before.Mean), after);
        Assert.Equal(1, models.EnumerateArray().Single(m => m.GetProperty("name").GetString() == "toy").GetProperty("defaultVersion").GetInt32());
    }

    [Fact]
    public async Task A_built_in_that_cannot_be_made_is_left_out_and_the_service_starts_with_the_others()
    {
        var builtIns = new BuiltInModels(
            [DefaultModels.Boston, DefaultModels.Spam, DefaultModels.Toy],
            name => name == DefaultModels.Spam ? throw new InvalidDataException("spam/manifest.json: the package has no manifest") : DefaultModels.Train(name));
        using var factory = new UncertaintyApiFactory { SeedBuiltIns = false, BuiltIns = builtIns };
        var client = await factory.ReadyClientAsync();

        var models = await client.GetFromJsonAsync<JsonElement>("/models", Json);
        var spam = await client.PostAsJsonAsync("/models/spam/predict", new { inputs = new[] { "hello" } });
        var toy = await client.PostAsJsonAsync("/models/toy/predict", Probe);

        Assert.Equal("boston,toy", string.Join(',', models.EnumerateArray().Select(m => m.GetProperty("name").GetString())));
        Assert.Equal(HttpStatusCode.NotFound, spam.StatusCode);
        Assert.Equal(HttpStatusCode.OK, toy.StatusCode);
    }

    [Fact]
    public async Task A_corrupt_default_model_is_reported_and_every_other_model_keeps_serving()
    {
        using var factory = new UncertaintyApiFactory();
        factory.PrepareStore();
        var weights = Path.Combine(factory.ModelStore, "boston", "1", ModelPackage.WeightsFileName);
        var bytes = File.ReadAllBytes(weights);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(weights, bytes);
        var client = await factory.ReadyClientAsync();

        var predict = await client.PostAsJsonAsync("/predict", new { inputs = new[] { new double[13] } });
        var toy = await client.PostAsJsonAsync("/models/toy/predict", Probe);
        var ready = await client.GetFromJsonAsync<JsonElement>("/health/ready", Json);
        var live = await client.GetAsync("/health/live");

        var problem = await Problems.ReadAsync(predict, HttpStatusCode.ServiceUnavailable);
        Assert.Contains("SHA-256", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain(factory.ModelStore, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.False(predict.Headers.Contains("Retry-After"), "retrying will not mend a corrupt file");
        Assert.Equal(HttpStatusCode.OK, toy.StatusCode);
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal("degraded", ready.GetProperty("status").GetString());
        var boston = ready.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("name").GetString() == "boston");
        Assert.Equal("failed", boston.GetProperty("state").GetString());
    }

    [Fact]
    public async Task A_truncated_manifest_of_one_version_is_listed_with_its_error_and_nothing_else_breaks()
    {
        using var factory = new UncertaintyApiFactory();
        factory.PrepareStore();
        const int second = 2;
        var copy = Path.Combine(factory.ModelStore, "toy", "2");
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(Path.Combine(factory.ModelStore, "toy", "1")))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        }

        var manifest = Path.Combine(copy, ModelPackage.ManifestFileName);
        File.WriteAllText(manifest, File.ReadAllText(manifest)[..40]);
        var client = await factory.ReadyClientAsync();

        var list = await client.GetAsync("/models");
        var details = await client.GetFromJsonAsync<JsonElement>("/models/toy", Json);
        var broken = await client.PostAsJsonAsync($"/models/toy/versions/{second}/predict", Probe);

        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        var version = details.GetProperty("versions").EnumerateArray().Single(v => v.GetProperty("version").GetInt32() == second);
        Assert.Contains("manifest", version.GetProperty("error").GetString(), StringComparison.Ordinal);
        await Problems.ReadAsync(broken, HttpStatusCode.ServiceUnavailable);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync("/models/toy/predict", Probe)).StatusCode);
    }

    [Fact]
    public async Task A_huge_network_spec_is_refused_before_anything_is_allocated()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();
        var rss = System.Diagnostics.Process.GetCurrentProcess().WorkingSet64;

        var import = new MultipartFormDataContent
        {
            { new StringContent("""{"network": {"inputs": 8, "hidden": [40000, 40000]}}""", Encoding.UTF8, "application/json"), "request" },
            { new ByteArrayContent(new byte[64]), "weights", "model.safetensors" },
        };
        var imported = await client.PostAsync("/models/huge/import", import);
        var trained = await client.PostAsJsonAsync("/training-jobs", new { model = "huge", dataset = "boston", network = new { hidden = new[] { 40000, 40000 } } });

        foreach (var response in new[] { imported, trained })
        {
            var problem = await Problems.ReadAsync(response, HttpStatusCode.UnprocessableEntity);
            Assert.Contains("MaxParameters", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        // 1.6 billion weights would be 6.4 GB; nothing near that was allocated (generous bound for other tests' noise).
        Assert.True(System.Diagnostics.Process.GetCurrentProcess().WorkingSet64 - rss < 512L << 20);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/models/huge")).StatusCode);
    }

    [Theory]
    [InlineData(2147483647UL)]
    [InlineData(1000000000UL)]
    [InlineData(ulong.MaxValue)]
    public async Task A_safetensors_header_length_beyond_the_file_is_refused_without_allocating_it(ulong claimed)
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();
        var weights = new byte[64];
        BitConverter.TryWriteBytes(weights, claimed);
        var form = new MultipartFormDataContent
        {
            { new StringContent("""{"network": {"inputs": 1, "hidden": [4]}}""", Encoding.UTF8, "application/json"), "request" },
            { new ByteArrayContent(weights), "weights", "model.safetensors" },
        };
        var allocated = GC.GetTotalAllocatedBytes();

        var response = await client.PostAsync("/models/header/import", form);

        var problem = await Problems.ReadAsync(response, HttpStatusCode.UnprocessableEntity);
        Assert.Contains("header", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.True(GC.GetTotalAllocatedBytes() - allocated < 64L << 20, "the claimed header length was not allocated");
    }

    [Fact]
    public async Task Identical_training_requests_give_bit_identical_weights()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();
        var hashes = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            var submitted = await client.PostAsJsonAsync("/training-jobs", new { model = "same", dataset = "boston", network = new { hidden = new[] { 16 } }, training = new { epochs = 15, seed = 0 } });
            var job = await FinishedJobAsync(client, submitted);

            Assert.Equal("succeeded", job.GetProperty("state").GetString());
            var version = job.GetProperty("version").GetInt32();
            var details = await client.GetFromJsonAsync<JsonElement>("/models/same", Json);
            hashes.Add(details.GetProperty("versions").EnumerateArray().Single(v => v.GetProperty("version").GetInt32() == version).GetProperty("weightsSha256").GetString()!);
        }

        Assert.Single(hashes.Distinct());
    }

    public static TheoryData<string, string> MalformedMultipart => new()
    {
        { "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"request\"\r\n\r\n{}" }, // unterminated
        { "multipart/form-data", "--x\r\nContent-Disposition: form-data; name=\"request\"\r\n\r\n{}\r\n--x--\r\n" }, // no boundary
        { "multipart/form-data; boundary=x", "--x\r\n\r\nno disposition\r\n--x--\r\n" }, // part without disposition
        { "multipart/form-data; boundary=x", "garbage without any boundary" },
        { "multipart/form-data; boundary=x", string.Concat(Enumerable.Repeat("--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n", 5000)) + "--x--\r\n" }, // 5,000 parts
        { "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"request\"\r\n\r\n{not json\r\n--x--\r\n" },
        { "multipart/form-data; boundary=" + new string('b', 200), "--b\r\n" }, // boundary over the limit
    };

    [Theory]
    [MemberData(nameof(MalformedMultipart))]
    public async Task Malformed_multipart_bodies_get_a_400_problem_on_every_upload_endpoint(string contentType, string body)
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();

        foreach (var path in new[] { "/models/toy/import", "/training-jobs", "/models/toy/evaluate" })
        {
            var content = new StringContent(body, Encoding.UTF8);
            content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
            var response = await client.PostAsync(path, content);
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task A_body_without_a_content_type_gets_415_on_every_upload_endpoint()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();

        foreach (var path in new[] { "/models/toy/import", "/training-jobs", "/models/toy/evaluate", "/models/toy/predict" })
        {
            var content = new ByteArrayContent("{}"u8.ToArray());
            await Problems.ReadAsync(await client.PostAsync(path, content), HttpStatusCode.UnsupportedMediaType);
        }
    }

    [Theory]
    [InlineData("toy%0a")]
    [InlineData("toy%0A")]
    [InlineData("Toy")]
    [InlineData("..")]
    [InlineData("a%2F..%2Fb")]
    [InlineData("%C3%A9t%C3%A9")]
    public async Task Names_outside_the_pattern_are_refused_and_never_reach_the_store(string name)
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();
        var form = new MultipartFormDataContent
        {
            { new StringContent("""{"network": {"inputs": 1, "hidden": [4]}}""", Encoding.UTF8, "application/json"), "request" },
            { new ByteArrayContent(new byte[64]), "weights", "model.safetensors" },
        };

        var response = await client.PostAsync($"/models/{name}/import", form);
        var models = await client.GetFromJsonAsync<JsonElement>("/models", Json);

        Assert.True(response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound, $"{name}: {(int)response.StatusCode}");
        Assert.Equal(string.Join(',', DefaultModels.Names.Order(StringComparer.Ordinal)), string.Join(',', models.EnumerateArray().Select(m => m.GetProperty("name").GetString())));
        Assert.Equal(string.Join(',', DefaultModels.Names.Order(StringComparer.Ordinal)), string.Join(',', Directory.GetDirectories(factory.ModelStore).Select(Path.GetFileName).Where(n => !n!.StartsWith('.')).Order()));
    }

    [Fact]
    public async Task A_full_queue_answers_429_with_Retry_After_on_evaluation_as_on_predictions()
    {
        using var factory = new UncertaintyApiFactory();
        factory.Settings["Uncertainty:QueueCapacity"] = "1";
        var client = await factory.ReadyClientAsync();
        var scheduler = factory.Services.GetRequiredService<InferenceScheduler>();
        scheduler.Pause();
        var waiting = client.PostAsJsonAsync("/models/toy/predict", Probe);
        while (scheduler.QueueLength < 1)
        {
            await Task.Delay(5);
        }

        var evaluation = await client.PostAsJsonAsync("/models/toy/evaluate", new { inputs = new[] { new[] { 0.1 } }, targets = new[] { 0.3 } });
        var prediction = await client.PostAsJsonAsync("/models/toy/predict", Probe);
        var switched = await client.PutAsJsonAsync("/models/toy/default-version", new { version = 1 });
        scheduler.Resume();

        foreach (var refused in new[] { evaluation, prediction })
        {
            await Problems.ReadAsync(refused, HttpStatusCode.TooManyRequests);
            Assert.Equal("1", refused.Headers.GetValues("Retry-After").Single());
        }

        Assert.Equal(HttpStatusCode.OK, switched.StatusCode); // model changes do not wait behind predictions
        Assert.Equal(HttpStatusCode.OK, (await waiting).StatusCode);
    }

    [Fact]
    public async Task Small_predictions_are_answered_while_a_large_evaluation_runs_and_the_evaluation_has_a_time_limit()
    {
        using var factory = new UncertaintyApiFactory();
        factory.Settings["Uncertainty:MaxSamples"] = "100000";
        var client = await factory.ReadyClientAsync();
        var scheduler = factory.Services.GetRequiredService<InferenceScheduler>();

        // 506 rows x 40,000 samples: tens of millions of row passes, split into chunks that predictions run between.
        var evaluation = client.PostAsJsonAsync("/models/boston/evaluate", new { dataset = "boston", samples = 40_000 });
        while (!scheduler.RunningLarge)
        {
            Assert.False(evaluation.IsCompleted, "the evaluation ended before it could be observed running");
            await Task.Delay(5);
        }

        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync("/models/toy/predict", Probe)).StatusCode);
        }

        Assert.False(evaluation.IsCompleted, "five small predictions were answered while the evaluation was still running");
        await evaluation;

        using var limited = new UncertaintyApiFactory();
        limited.Settings["Uncertainty:MaxSamples"] = "100000";
        limited.Settings["Uncertainty:EvaluationTimeoutSeconds"] = "0.5";
        var timed = await (await limited.ReadyClientAsync()).PostAsJsonAsync("/models/boston/evaluate", new { dataset = "boston", samples = 40_000 });
        var problem = await Problems.ReadAsync(timed, HttpStatusCode.GatewayTimeout);
        Assert.Contains("EvaluationTimeoutSeconds", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Versions_of_one_name_keep_its_schema_unless_the_request_says_replace()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();

        var refused = await client.PostAsJsonAsync("/training-jobs", new { model = "toy", dataset = "boston", training = new { epochs = 1 } });
        var problem = await Problems.ReadAsync(refused, HttpStatusCode.Conflict);
        Assert.Contains("replaceSchema", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("inputs", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);

        var accepted = await client.PostAsJsonAsync("/training-jobs", new { model = "toy", dataset = "boston", training = new { epochs = 1 }, replaceSchema = true });
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
    }

    [Fact]
    public async Task An_inference_key_predicts_and_evaluates_but_cannot_administer()
    {
        using var factory = new UncertaintyApiFactory();
        factory.Settings["Uncertainty:ApiKeys:0"] = "admin-key-0123456789abcdef";
        factory.Settings["Uncertainty:InferenceApiKeys:0"] = "inference-key-0123456789abcdef";
        factory.Settings["Uncertainty:RequireApiKeyForInference"] = "true";
        var client = await factory.ReadyClientAsync();
        client.DefaultRequestHeaders.Add("X-Api-Key", "inference-key-0123456789abcdef");

        var predicted = await client.PostAsJsonAsync("/models/toy/predict", Probe);
        var evaluated = await client.PostAsJsonAsync("/models/toy/evaluate", new { inputs = new[] { new[] { 0.1 } }, targets = new[] { 0.3 } });
        var switched = await client.PutAsJsonAsync("/models/toy/default-version", new { version = 1 });
        var trained = await client.PostAsJsonAsync("/training-jobs", new { model = "m", dataset = "boston" });

        Assert.Equal(HttpStatusCode.OK, predicted.StatusCode);
        Assert.Equal(HttpStatusCode.OK, evaluated.StatusCode);
        foreach (var refused in new[] { switched, trained })
        {
            var problem = await Problems.ReadAsync(refused, HttpStatusCode.Forbidden);
            Assert.Contains("not administer", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Evaluation_needs_a_key_whenever_keys_are_configured()
    {
        using var factory = new UncertaintyApiFactory();
        factory.Settings["Uncertainty:ApiKeys:0"] = "admin-key-0123456789abcdef";
        var client = await factory.ReadyClientAsync();

        var evaluated = await client.PostAsJsonAsync("/models/toy/evaluate", new { inputs = new[] { new[] { 0.1 } }, targets = new[] { 0.3 } });
        var predicted = await client.PostAsJsonAsync("/models/toy/predict", Probe);

        await Problems.ReadAsync(evaluated, HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.OK, predicted.StatusCode);
    }

    [Fact]
    public async Task What_a_crash_left_in_the_store_is_removed_at_start()
    {
        using var factory = new UncertaintyApiFactory();
        factory.PrepareStore();
        var model = Path.Combine(factory.ModelStore, "toy");
        var leftovers = new[]
        {
            Path.Combine(model, ".3.0123456789abcdef.staging"),
            Path.Combine(model, ".1.0123456789abcdef.deleted"),
        };
        foreach (var directory in leftovers)
        {
            Directory.CreateDirectory(directory);
            File.WriteAllText(Path.Combine(directory, "weights.bin"), "partial");
        }

        var temporary = Path.Combine(model, ".default-version.0123456789abcdef.tmp");
        File.WriteAllText(temporary, "2");
        var job = Path.Combine(factory.ModelStore, ".jobs", "0123456789abcdef0123456789abcdef");
        Directory.CreateDirectory(job);
        var halfWrittenJob = Path.Combine(job, ".job.json.0123456789abcdef.tmp");
        File.WriteAllText(halfWrittenJob, "{\"sta");
        await factory.Services.GetRequiredService<Uncertainty.Api.Hosting.ServiceState>().WhenStartedAsync();

        Assert.All(leftovers, directory => Assert.False(Directory.Exists(directory), directory));
        Assert.False(File.Exists(temporary));
        Assert.False(File.Exists(halfWrittenJob));
        Assert.Equal("1", File.ReadAllText(Path.Combine(model, "default-version")).Trim());
    }

    [Fact]
    public async Task Readiness_turns_503_and_connections_close_when_stopping_begins_while_requests_are_still_answered()
    {
        using var factory = new UncertaintyApiFactory();
        factory.Settings["Uncertainty:DrainSeconds"] = "3";
        var client = await factory.ReadyClientAsync();
        var lifetime = factory.Services.GetRequiredService<Microsoft.Extensions.Hosting.IHost>();

        var stopping = lifetime.StopAsync();
        var state = factory.Services.GetRequiredService<Uncertainty.Api.Hosting.ServiceState>();
        while (!state.Draining)
        {
            await Task.Delay(5);
        }

        var ready = await client.GetAsync("/health/ready");
        var prediction = await client.PostAsJsonAsync("/models/toy/predict", Probe);
        await stopping;

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Equal(HttpStatusCode.OK, prediction.StatusCode);
        Assert.True(prediction.Headers.ConnectionClose, "responses while draining ask the client to reconnect elsewhere");
    }

    private sealed class CollectingSink : Serilog.Core.ILogEventSink
    {
        public ConcurrentQueue<Serilog.Events.LogEvent> Events { get; } = new();

        public void Emit(Serilog.Events.LogEvent logEvent) => Events.Enqueue(logEvent);
    }

    [Fact]
    public async Task A_malformed_body_is_logged_as_the_400_it_got_without_an_error_or_a_stack_trace()
    {
        var sink = new CollectingSink();
        using var factory = new UncertaintyApiFactory { LogSink = sink };
        var client = await factory.ReadyClientAsync();

        var response = await client.PostAsync("/predict", new StringContent("{\"inputs\": [[1,", Encoding.UTF8, "application/json"));

        await Problems.ReadAsync(response, HttpStatusCode.BadRequest);
        var request = sink.Events.Single(e => e.MessageTemplate.Text.StartsWith("HTTP", StringComparison.Ordinal) && e.RenderMessage(System.Globalization.CultureInfo.InvariantCulture).Contains("/predict", StringComparison.Ordinal));
        Assert.Equal(Serilog.Events.LogEventLevel.Warning, request.Level);
        Assert.Contains("400", request.RenderMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        Assert.DoesNotContain(sink.Events, e => e.Level >= Serilog.Events.LogEventLevel.Error || e.Exception is not null);
    }

    [Theory]
    [InlineData("/health/ready", 503, Serilog.Events.LogEventLevel.Debug)]
    [InlineData("/metrics", 200, Serilog.Events.LogEventLevel.Debug)]
    [InlineData("/v2/health/ready", 200, Serilog.Events.LogEventLevel.Debug)]
    [InlineData("/predict", 200, Serilog.Events.LogEventLevel.Information)]
    [InlineData("/predict", 429, Serilog.Events.LogEventLevel.Warning)]
    [InlineData("/predict", 500, Serilog.Events.LogEventLevel.Error)]
    public void Probes_are_logged_at_debug_client_errors_at_warning_and_server_errors_at_error(string path, int status, Serilog.Events.LogEventLevel level)
    {
        var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        context.Request.Path = path;
        context.Response.StatusCode = status;

        Assert.Equal(level, UncertaintyApi.RequestLogLevel(context, 1, null));
    }

    [Fact]
    public async Task A_training_job_whose_loss_diverges_fails_with_the_reason_and_the_service_keeps_running()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();

        var submitted = await client.PostAsJsonAsync("/training-jobs", new { model = "diverge", dataset = "boston", training = new { epochs = 3, learningRate = 1e308 } });
        var job = await FinishedJobAsync(client, submitted);

        Assert.Equal("failed", job.GetProperty("state").GetString());
        Assert.Contains("diverged", job.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/training-jobs")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync("/models/toy/predict", Probe)).StatusCode);
    }

    [Fact]
    public async Task A_deleted_version_number_is_never_given_again_and_deletes_racing_predictions_never_give_wrong_numbers()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();
        var doomed = await AddAsync(factory, "toy", Variant(21));
        var reference = (await MeanAsync(await client.PostAsJsonAsync($"/models/toy/versions/{doomed}/predict", Probe))).Mean;

        var racing = Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            var seen = new List<(HttpStatusCode, double?)>();
            for (int i = 0; i < 20; i++)
            {
                var response = await client.PostAsJsonAsync($"/models/toy/versions/{doomed}/predict", Probe);
                seen.Add((response.StatusCode, response.StatusCode == HttpStatusCode.OK ? (await MeanAsync(response)).Mean : null));
            }

            return seen;
        })).ToList();
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/models/toy/versions/{doomed}")).StatusCode);
        var answers = (await Task.WhenAll(racing)).SelectMany(a => a).ToList();
        var next = await AddAsync(factory, "toy", Variant(22));

        Assert.All(answers, a => Assert.True(a.Item1 == HttpStatusCode.NotFound || (a.Item1 == HttpStatusCode.OK && a.Item2 == reference), $"{a.Item1} {a.Item2}"));
        Assert.True(next > doomed, $"version {next} after deleting {doomed}");
        Assert.Equal(HttpStatusCode.NotFound, (await client.PostAsJsonAsync($"/models/toy/versions/{doomed}/predict", Probe)).StatusCode);
    }

    [Theory]
    [InlineData("""{"formatVersion": 1, "model": null, "weightsSha256": "00"}""")]
    [InlineData("""{"formatVersion": 1, "model": {"network": null}, "weightsSha256": "00"}""")]
    [InlineData("""{"formatVersion": 1, "model": {"network": {"inputs": 1}, "inputScaling": null}, "weightsSha256": "00"}""")]
    public async Task A_manifest_with_nulls_is_reported_as_invalid_and_the_listing_still_answers(string manifest)
    {
        using var factory = new UncertaintyApiFactory();
        factory.PrepareStore();
        var version = Path.Combine(factory.ModelStore, "bad", "1");
        Directory.CreateDirectory(version);
        File.WriteAllText(Path.Combine(version, ModelPackage.ManifestFileName), manifest);
        File.WriteAllText(Path.Combine(factory.ModelStore, "bad", "default-version"), "1");
        var client = await factory.ReadyClientAsync();

        var list = await client.GetFromJsonAsync<JsonElement>("/models", Json);
        var details = await client.GetAsync("/models/bad");
        var predict = await client.PostAsJsonAsync("/models/bad/predict", Probe);

        Assert.Contains("not valid", list.EnumerateArray().Single(m => m.GetProperty("name").GetString() == "bad").GetProperty("error").GetString(), StringComparison.Ordinal);
        await Problems.ReadAsync(details, HttpStatusCode.ServiceUnavailable);
        await Problems.ReadAsync(predict, HttpStatusCode.ServiceUnavailable);
    }

    [Fact]
    public async Task Inputs_that_break_float_range_get_4xx_on_predictions_and_evaluation()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();

        var level = await client.PostAsJsonAsync("/models/toy/predict", new { inputs = new[] { new[] { 0.5 } }, intervalLevel = 0.9999999999999999 });
        var target = await client.PostAsJsonAsync("/models/toy/evaluate", new { inputs = new[] { new[] { 0.1 } }, targets = new[] { 1e39 } });
        var input = await client.PostAsJsonAsync("/models/toy/evaluate", new { inputs = new[] { new[] { 3e38 } }, targets = new[] { 1.0 } });
        var csv = await client.PostAsJsonAsync("/models/toy/evaluate", new { csv = "x,y\n3e38,0.1\n" });
        var twice = await client.PostAsync("/models/toy/predict", new StringContent("""{"inputs": [{"x": 1, "x": 2}]}""", Encoding.UTF8, "application/json"));
        var noVersion = await client.PutAsJsonAsync("/models/toy/default-version", new { });

        await Problems.ReadAsync(level, HttpStatusCode.BadRequest);
        await Problems.ReadAsync(target, HttpStatusCode.BadRequest);
        await Problems.ReadAsync(input, HttpStatusCode.UnprocessableEntity);
        await Problems.ReadAsync(csv, HttpStatusCode.UnprocessableEntity);
        await Problems.ReadAsync(twice, HttpStatusCode.BadRequest);
        await Problems.ReadAsync(noVersion, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_byte_order_mark_in_inline_csv_is_not_part_of_the_first_column_name()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();

        var response = await client.PostAsJsonAsync("/models/toy/evaluate", new { csv = "\uFEFFx,y\n0.1,0.3\n0.2,0.5\n" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("garbage{")]
    [InlineData("""{"id": null, "model": null, "state": "Running", "data": null}""")]
    public async Task A_damaged_training_job_file_is_moved_aside_and_the_service_starts(string jobJson)
    {
        using var factory = new UncertaintyApiFactory();
        factory.PrepareStore();
        var job = Path.Combine(factory.ModelStore, ".jobs", "0123456789abcdef0123456789abcdef");
        Directory.CreateDirectory(job);
        File.WriteAllText(Path.Combine(job, "job.json"), jobJson);
        File.WriteAllText(Path.Combine(job, "request.json"), """{"model": "m", "dataset": "boston"}""");

        var client = await factory.ReadyClientAsync();

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/training-jobs")).StatusCode);
        Assert.False(Directory.Exists(job));
        Assert.Single(Directory.GetDirectories(Path.Combine(factory.ModelStore, ".jobs"), "*.unreadable"));
    }

    [Fact]
    public async Task Concurrent_deletes_of_one_version_give_one_204_and_404s()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();
        var version = await AddAsync(factory, "toy", Variant(31));

        var statuses = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => client.DeleteAsync($"/models/toy/versions/{version}")));

        Assert.Equal(1, statuses.Count(r => r.StatusCode == HttpStatusCode.NoContent));
        Assert.All(statuses.Where(r => r.StatusCode != HttpStatusCode.NoContent), r => Assert.Equal(HttpStatusCode.NotFound, r.StatusCode));
    }

    [Fact]
    public async Task A_model_folder_removed_by_hand_and_created_again_serves_the_new_network()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();
        Assert.Equal(1, await AddAsync(factory, "again", Variant(41)));
        var old = await MeanAsync(await client.PostAsJsonAsync("/models/again/predict", Probe));

        Directory.Delete(Path.Combine(factory.ModelStore, "again"), recursive: true); // an operator, outside the service
        Assert.Equal(1, await AddAsync(factory, "again", Variant(42)));
        var fresh = await MeanAsync(await client.PostAsJsonAsync("/models/again/predict", Probe));
        var alone = await MeanAsync(await client.PostAsJsonAsync("/models/again/versions/1/predict", Probe));

        Assert.NotEqual(old.Mean, fresh.Mean);
        Assert.Equal(alone.Mean, fresh.Mean);
    }

    [Fact]
    public async Task A_folder_without_a_manifest_never_collides_with_the_next_version()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();
        Directory.CreateDirectory(Path.Combine(factory.ModelStore, "toy", "7")); // a copy still in progress

        var version = await AddAsync(factory, "toy", Variant(51));

        Assert.Equal(8, version);
    }

    [Fact]
    public async Task A_pointer_rewritten_in_place_takes_effect()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();
        var second = await AddAsync(factory, "toy", Variant(61));
        Assert.Equal(1, (await MeanAsync(await client.PostAsJsonAsync("/models/toy/predict", Probe))).Version);

        await Task.Delay(300); // past the listing's racy window, so only the pointer's own time can tell
        using (var pointer = new FileStream(Path.Combine(factory.ModelStore, "toy", "default-version"), FileMode.Open, FileAccess.Write))
        {
            pointer.SetLength(0);
            pointer.Write(Encoding.ASCII.GetBytes(second.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        Assert.Equal(second, (await MeanAsync(await client.PostAsJsonAsync("/models/toy/predict", Probe))).Version);
    }

    [Fact]
    public async Task A_version_whose_reported_numbers_overflow_fails_its_check()
    {
        using var factory = new UncertaintyApiFactory();
        var client = await factory.ReadyClientAsync();
        using var package = Variant(71);
        var scaled = new ModelPackage(package.Description with { TargetScaling = new Standardizer([0.0], [1e200]) }, package.Network);

        var refused = await Assert.ThrowsAsync<Uncertainty.Api.Problems.UnprocessableException>(
            () => factory.Services.GetRequiredService<ModelRegistry>().AddVersionAsync("scaled", scaled, makeDefault: true, replaceSchema: false, CancellationToken.None));

        Assert.Contains("not finite", refused.Message, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/models/scaled")).StatusCode);
    }
}
