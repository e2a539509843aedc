// Calls the service through NSwag's generated C# client: a prediction and its replay, the model list, an import
// (multipart: a FileParameter and the request JSON) and a training job. Any failed check exits non-zero.
using Uncertainty.Clients;
using Uncertainty.Clients.Nswag;

var baseUrl = args.Length > 0 ? args[0] : "http://127.0.0.1:5000";
using var http = new HttpClient();
var client = new UncertaintyClient(http) { BaseUrl = baseUrl, ReadResponseAsString = true };
var passed = new List<string>();
try
{

    // A Boston row; without a seed the service picks one, and sending it back must give the same numbers.
    double[] row = [0.00632, 18.0, 2.31, 0, 0.538, 6.575, 65.2, 4.09, 1, 296, 15.3, 396.9, 4.98];
    var first = await client.PredictAsync(new PredictRequest { Inputs = [row], Samples = 50 });
    var prediction = first.Predictions.Single();
    Checks.That(first.Seed is >= 0 and <= 9007199254740991, $"the server's seed {first.Seed} is within 0..2^53-1");
    Checks.That(prediction.Mean.Count == 1 && prediction.EpistemicVariance.Count == 1, "one mean and one epistemic variance");
    var replay = (await client.PredictAsync(new PredictRequest { Inputs = [row], Samples = 50, Seed = first.Seed })).Predictions.Single();
    Checks.That(replay.Mean.SequenceEqual(prediction.Mean) && replay.EpistemicVariance.SequenceEqual(prediction.EpistemicVariance), "replaying the seed gives identical numbers");
    passed.Add($"predict (mean {prediction.Mean.First():0.###}, epistemic variance {prediction.EpistemicVariance.First():0.###}, seed {first.Seed} replayed)");

    var models = await client.ListModelsAsync();
    Checks.That(models.Any(m => m.Name == "boston"), "GET /models lists boston");
    passed.Add($"models ({models.Count})");

    var name = "client-nswag";
    using (var weights = new MemoryStream(TinyNetwork.Safetensors()))
    {
        var network = new NetworkSpec
        {
            Inputs = TinyNetwork.Inputs,
            Hidden = [TinyNetwork.Hidden],
            HiddenDropout = [0.1],
            Activation = Activation.Relu,
        Head = new HeadSpec { Kind = HeadKind.Regression, Outputs = 1, Tau = 1 },
        };
        var imported = await client.ImportModelAsync(name, new FileParameter(weights, "tiny.safetensors", "application/octet-stream"), new ImportRequest { Network = network, MakeDefault = true });
        Checks.That(imported.Name == name && imported.Version >= 1, "the import made a version");
        var served = await client.PredictWithModelAsync(name, new PredictRequest { Inputs = [new[] { 0.5, 1.0 }], Samples = 20, Seed = 7 });
        Checks.That(served.Version == imported.Version && served.Predictions.Single().Mean.Count == 1, "the imported version serves");
        passed.Add($"import (version {imported.Version}, serves)");
    }

    var job = await client.SubmitTrainingJobAsync(
        new TrainingJobRequest
        {
            Model = "client-nswag-trained",
            Dataset = "boston",
            Network = new NetworkRequest { Hidden = [8], HiddenDropout = [0.1], Activation = Activation.Relu, Tau = 1 },
            Training = new TrainingOptions { Epochs = 2, BatchSize = 64, LearningRate = 0.01, Momentum = 0.9, StepEpochs = 30, StepGamma = 0.1, Seed = 1 },
        },
        null,
        null);
    job = await Checks.UntilFinishedAsync(job, j => j.State is JobState.Queued or JobState.Running, j => client.GetTrainingJobAsync(j.Id));
    Checks.That(job.State == JobState.Succeeded, $"the training job succeeded (state {job.State}, error {job.Error})");
    passed.Add($"training job ({job.Epoch} epochs, version {job.Version})");
}
catch (ApiException e)
{
    // The status and the service's problem details say what the failed call was refused for.
    Console.Error.WriteLine($"nswag: {e.StatusCode} after {string.Join(", ", passed)}: {e.Response}");
    return 1;
}

Console.WriteLine($"nswag: {string.Join(", ", passed)}");
return 0;
