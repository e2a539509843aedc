using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Uncertainty.Api.Predictions;
using Uncertainty.Model.Data;

namespace Uncertainty.Api.Tests;

/// <summary>The shipped text classifier ('spam') and daily forecaster ('births') over HTTP: strings in, forecasts out, padding, refusals.</summary>
public sealed class SequenceModelApiTests(UncertaintyApiFactory factory) : IClassFixture<UncertaintyApiFactory>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>A births-like history: a level of 10,000, a weekend dip, a slow trend, from 1986-11-06 to 1986-12-31.</summary>
    private static double[] History(int days = 56) =>
        [.. Enumerable.Range(0, days).Select(d => 10_000 + (5 * d) - (new DateOnly(1986, 12, 31).AddDays(d - days + 1).DayOfWeek is DayOfWeek.Saturday or DayOfWeek.Sunday ? 1_800 : 0))];

    private async Task<PredictResponse> PredictAsync(string model, object body)
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostAsJsonAsync($"/models/{model}/predict", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<PredictResponse>(Json))!;
    }

    [Fact]
    public async Task A_text_model_reads_strings_and_reports_spam_probability_with_its_uncertainty()
    {
        var prediction = await PredictAsync("spam", new
        {
            inputs = new[]
            {
                "Subject: LIMITED OFFER!!! Make $$$ fast\nClick here to claim your FREE money now!!! Unsubscribe at www.cash-now.biz",
                "Subject: Re: patch for the build script\nThanks, I applied your patch to the build script and the tests pass on my machine now.",
            },
            samples = 60,
            seed = 5,
        });

        var (spam, ham) = (prediction.Predictions[0], prediction.Predictions[1]);
        Assert.Equal("spam", spam.Label);
        Assert.Equal("ham", ham.Label);
        Assert.All(prediction.Predictions, row =>
        {
            Assert.Equal(1.0, row.Probabilities!.Sum(), 1e-9);
            Assert.InRange(row.MutualInformation!.Value, 0, row.Entropy!.Value + 1e-12);
        });
    }

    [Fact]
    public async Task A_text_alone_gets_the_numbers_it_gets_beside_a_longer_one()
    {
        const string text = "Subject: meeting\nSee you at the meeting tomorrow.";
        var alone = await PredictAsync("spam", new { inputs = new[] { text }, samples = 40, seed = 9 });
        var together = await PredictAsync("spam", new { inputs = new[] { text, string.Join(' ', Enumerable.Repeat("a much longer message with many words", 60)) }, samples = 40, seed = 9 });

        Assert.Equal(alone.Predictions[0].Probabilities, together.Predictions[0].Probabilities);
        Assert.Equal(alone.Predictions[0].MutualInformation, together.Predictions[0].MutualInformation);
    }

    [Theory]
    [InlineData("""{"inputs": [""]}""", "inputs[0]", "no words")]
    [InlineData("""{"inputs": ["  \n\t "]}""", "inputs[0]", "no words")]
    [InlineData("""{"inputs": [[0, 5]]}""", "inputs[0][0]", "0 is padding")]
    [InlineData("""{"inputs": [[3, 99999999]]}""", "inputs[0][1]", "Token ids are integers")]
    [InlineData("""{"inputs": [[1.5]]}""", "inputs[0][0]", "Token ids are integers")]
    [InlineData("""{"inputs": [{"text": "hi"}]}""", "inputs[0]", "a string, or an array of 1 to")]
    [InlineData("""{"inputs": [[]]}""", "inputs[0]", "got 0 ids")]
    [InlineData("""{"inputs": ["free \ud800 money"]}""", "inputs[0]", "not valid Unicode")]
    [InlineData("""{"inputs": ["ok", "\udc00"]}""", "inputs[1]", "not valid Unicode")]
    public async Task Bad_text_rows_get_a_400_naming_the_row(string body, string field, string problem)
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostAsync("/models/spam/predict", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        var errors = (await Problems.ReadAsync(response, HttpStatusCode.BadRequest)).GetProperty("errors");
        Assert.Contains(problem, errors.GetProperty(field)[0].GetString());
    }

    [Theory]
    [InlineData("""{"inputs": ["free money"], "targets": ["\ud800"], "samples": 5}""", "targets[0]")]
    [InlineData("""{"inputs": ["free \udc00 money"], "targets": ["spam"], "samples": 5}""", "inputs[0]")]
    public async Task Evaluating_text_with_a_lone_surrogate_is_a_400_not_a_500(string body, string field)
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostAsync("/models/spam/evaluate", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        var errors = (await Problems.ReadAsync(response, HttpStatusCode.BadRequest)).GetProperty("errors");
        Assert.Contains("not valid Unicode", errors.GetProperty(field)[0].GetString());
    }

    /// <summary>
    /// A text model's chunks hold few rows (each row is a whole sequence), so even a one-row request with 100 samples runs as a
    /// stepped "large" run; large runs take turns chunk by chunk, so it is answered while a 50-row, 400-sample request (400 chunks) is still running.
    /// </summary>
    [Fact]
    public async Task A_small_text_request_is_answered_while_a_huge_one_still_runs()
    {
        var client = await factory.ReadyClientAsync();
        var huge = client.PostAsJsonAsync("/models/spam/predict", new { inputs = Enumerable.Repeat("free money now, click here to claim your prize", 50).ToArray(), samples = 400, seed = 1 });
        var scheduler = factory.Services.GetRequiredService<Uncertainty.Api.Inference.InferenceScheduler>();
        for (int i = 0; i < 200 && !scheduler.RunningLarge; i++)
        {
            await Task.Delay(25);
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        bool runningBefore = scheduler.RunningLarge;
        var small = await PredictAsync("spam", new { inputs = new[] { "Hi, lunch tomorrow?" }, samples = 100, seed = 2 });
        var smallSeconds = clock.Elapsed.TotalSeconds;

        Assert.Single(small.Predictions);
        if (huge.IsCompleted)
        {
            var early = await huge;
            Assert.Fail($"the large request finished first (large running before: {runningBefore}, small took {smallSeconds:F1} s): {(int)early.StatusCode} {await early.Content.ReadAsStringAsync()}");
        }

        using var hugeResponse = await huge;
        Assert.True(hugeResponse.StatusCode is HttpStatusCode.OK or HttpStatusCode.GatewayTimeout, $"{hugeResponse.StatusCode}");
    }

    [Fact]
    public async Task A_text_longer_than_the_model_reads_is_cut_at_its_length_and_ids_are_accepted_too()
    {
        var details = await (await factory.ReadyClientAsync()).GetFromJsonAsync<JsonElement>("/models/spam");
        var text = details.GetProperty("text");
        int maxTokens = text.GetProperty("maxTokens").GetInt32();
        Assert.Equal("word-v1", text.GetProperty("rules").GetString());
        Assert.Equal("email", text.GetProperty("preprocessing").GetString());

        var words = string.Join(' ', Enumerable.Repeat("hello", maxTokens));
        var cut = await PredictAsync("spam", new { inputs = new[] { words, words + " and then many more words after the end" }, samples = 20, seed = 2 });
        Assert.Equal(cut.Predictions[0].Probabilities, cut.Predictions[1].Probabilities);

        var ids = await PredictAsync("spam", new { inputs = new[] { new[] { 1, 2, 3 } }, samples = 20, seed = 2 });
        Assert.Single(ids.Predictions);
    }

    [Fact]
    public async Task A_forecast_gives_every_horizon_day_with_nested_intervals_and_coherent_paths()
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostAsJsonAsync("/models/births/forecast", new { history = History(70), lastDate = "1986-12-31", samples = 50, seed = 4, returnPaths = 10 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var forecast = (await response.Content.ReadFromJsonAsync<ForecastResponse>(Json))!;

        var details = await client.GetFromJsonAsync<JsonElement>("/models/births");
        int horizon = details.GetProperty("forecast").GetProperty("horizon").GetInt32();
        Assert.Equal(horizon, forecast.Steps.Count);
        Assert.Equal(new DateOnly(1987, 1, 1), forecast.Steps[0].Date);
        Assert.Equal(new DateOnly(1986, 12, 31).AddDays(horizon), forecast.Steps[^1].Date);
        Assert.Equal(10, forecast.Paths!.Count);
        foreach (var (step, h) in forecast.Steps.Select((s, i) => (s, i)))
        {
            Assert.Equal(h + 1, step.Horizon);
            Assert.Equal(step.EpistemicVariance + step.AleatoricVariance, step.PredictiveVariance, 1e-6 * step.PredictiveVariance);
            var (fifty, ninety) = (step.Intervals[0], step.Intervals[1]);
            Assert.True(ninety.Lower < fifty.Lower && fifty.Lower < step.Mean && step.Mean < fifty.Upper && fifty.Upper < ninety.Upper);
            Assert.InRange(step.Mean, 5_000, 15_000); // births-sized numbers: the baseline was added back
            Assert.InRange(step.Baseline, 5_000, 15_000);
            Assert.All(forecast.Paths, path => Assert.True(double.IsFinite(path[h])));
        }

        // The same seed, the same forecast.
        var again = (await (await client.PostAsJsonAsync("/models/births/forecast", new { history = History(70), lastDate = "1986-12-31", samples = 50, seed = 4 })).Content.ReadFromJsonAsync<ForecastResponse>(Json))!;
        Assert.Equal(forecast.Steps.Select(s => s.Mean), again.Steps.Select(s => s.Mean));
        Assert.Null(again.Paths);
    }

    [Theory]
    [InlineData("""{"history": [1, 2, 3], "lastDate": "1986-12-31"}""", "history", "at least")]
    [InlineData("""{"history": null, "lastDate": "1986-12-31"}""", "history", "at least")]
    [InlineData("""{"history": HISTORY}""", "lastDate", "last history value")]
    [InlineData("""{"history": HISTORY, "lastDate": "9999-12-30"}""", "lastDate", "past the last representable day")]
    [InlineData("""{"history": HISTORY, "lastDate": "0001-01-01"}""", "lastDate", "before the first representable day")]
    [InlineData("""{"history": HISTORY, "lastDate": "1986-12-31", "intervalLevels": [1.5]}""", "intervalLevels", "each in (0,")]
    [InlineData("""{"history": HISTORY, "lastDate": "1986-12-31", "samples": 10, "returnPaths": 11}""", "returnPaths", "between 0 and samples")]
    [InlineData("""{"history": HISTORY_HUGE, "lastDate": "1986-12-31"}""", "history[55]", "finite numbers")]
    public async Task Bad_forecast_requests_get_a_400_naming_the_field(string body, string field, string problem)
    {
        var history = History();
        body = body.Replace("HISTORY_HUGE", JsonSerializer.Serialize(history[..^1].Append(1e300)), StringComparison.Ordinal)
            .Replace("HISTORY", JsonSerializer.Serialize(history), StringComparison.Ordinal);
        var client = await factory.ReadyClientAsync();
        var response = await client.PostAsync("/models/births/forecast", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        var errors = (await Problems.ReadAsync(response, HttpStatusCode.BadRequest)).GetProperty("errors");
        Assert.Contains(problem, errors.GetProperty(field)[0].GetString());
    }

    [Fact]
    public async Task Forecasting_a_model_that_is_not_a_forecaster_is_a_400()
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostAsJsonAsync("/models/boston/forecast", new { history = History(), lastDate = "1986-12-31" });

        var problem = await Problems.ReadAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("not a forecasting model", problem.GetRawText());
    }

    [Fact]
    public async Task A_sequence_row_of_any_length_up_to_the_window_is_padded_and_a_longer_one_refused()
    {
        var step = new[] { 0.0, 0.5, 0.8, 0.1, -0.2, 0.9 };
        var client = await factory.ReadyClientAsync();
        var shortRow = await PredictAsync("births", new { inputs = new[] { Enumerable.Repeat(step, 20).ToArray() }, samples = 10, seed = 1 });
        Assert.Single(shortRow.Predictions);

        var window = (await client.GetFromJsonAsync<JsonElement>("/models/births")).GetProperty("forecast").GetProperty("window").GetInt32();
        var response = await client.PostAsJsonAsync("/models/births/predict", new { inputs = new[] { Enumerable.Repeat(step, window + 1).ToArray() } });
        var errors = (await Problems.ReadAsync(response, HttpStatusCode.BadRequest)).GetProperty("errors");
        Assert.Contains($"1 to {window} steps", errors.GetProperty("inputs[0]")[0].GetString());
    }

    [SequenceDataFact("spam-assassin")]
    public async Task A_training_job_on_spam_assassin_makes_a_text_model_that_reads_strings()
    {
        var client = await factory.ReadyClientAsync();
        var job = await ServingCoreTests.FinishedJobAsync(client, await client.PostAsJsonAsync("/training-jobs", new
        {
            model = "mail",
            dataset = "spam-assassin",
            maxVocabulary = 2000,
            network = new
            {
                inputShape = new[] { 48 },
                layers = new object[]
                {
                    new { type = "embedding", vocab = 2, dim = 8, wordDropout = 0.1 },
                    new { type = "meanPool" },
                    new { type = "dropout", p = 0.2 },
                    new { type = "linear", @out = 2 },
                },
            },
            training = new { epochs = 2, batchSize = 64, learningRate = 0.01, seed = 3 },
        }));
        Assert.Equal("succeeded", job.GetProperty("state").GetString());

        var details = await client.GetFromJsonAsync<JsonElement>("/models/mail");
        Assert.Equal(2002, details.GetProperty("text").GetProperty("vocabularySize").GetInt32());
        var prediction = await PredictAsync("mail", new { inputs = new[] { "Hello, are we still meeting on Friday?" }, samples = 20, seed = 1 });
        Assert.Equal(1.0, prediction.Predictions[0].Probabilities!.Sum(), 1e-9);
    }

    [SequenceDataFact("us-births")]
    public async Task A_training_job_on_us_births_makes_a_forecaster()
    {
        var client = await factory.ReadyClientAsync();
        var job = await ServingCoreTests.FinishedJobAsync(client, await client.PostAsJsonAsync("/training-jobs", new
        {
            model = "daily",
            dataset = "us-births",
            horizon = 7,
            network = new
            {
                inputShape = new[] { 14, 6 },
                layers = new object[] { new { type = "gru", hidden = 8, recurrentDropout = 0.1 }, new { type = "linear", @out = 2 } },
                heteroscedastic = true,
            },
            training = new { epochs = 1, batchSize = 256, learningRate = 0.01, seed = 3 },
        }));
        Assert.Equal("succeeded", job.GetProperty("state").GetString());

        var response = await client.PostAsJsonAsync("/models/daily/forecast", new { history = History(14), lastDate = "1986-12-31", samples = 20, seed = 1 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var forecast = (await response.Content.ReadFromJsonAsync<ForecastResponse>(Json))!;
        Assert.Equal(7, forecast.Steps.Count);
    }

    [Theory]
    [InlineData("""{"model": "m", "dataset": "boston", "maxVocabulary": 10}""", "maxVocabulary")]
    [InlineData("""{"model": "m", "dataset": "us-births", "horizon": 0}""", "horizon")]
    [InlineData("""{"model": "m", "dataset": "spam-assassin", "horizon": 7}""", "horizon")]
    public async Task Sequence_job_fields_outside_their_dataset_or_range_are_refused(string body, string field)
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostAsync("/training-jobs", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        var errors = (await Problems.ReadAsync(response, HttpStatusCode.BadRequest)).GetProperty("errors");
        Assert.True(errors.TryGetProperty(field, out _), errors.GetRawText());
    }

    /// <summary>Runs where the dataset is in the data cache, and always where UNCERTAINTY_DATA_CACHE is set (CI fetches it first).</summary>
    private sealed class SequenceDataFactAttribute : FactAttribute
    {
        public SequenceDataFactAttribute(string name)
        {
            if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(DataCache.DirectoryVariable)) && !new DataCache().Contains(name))
            {
                Skip = $"{name} is not in the data cache; `{DataCache.FetchCommand(name)}` puts it there.";
            }
        }
    }
}
