// Calls the service through Kiota's generated C# client: a prediction and its replay, the model list, an import
// (a Kiota MultipartBody: the weights file and the request JSON) and a training job. Any failed check exits non-zero.
using Microsoft.Kiota.Abstractions;
using Microsoft.Kiota.Abstractions.Authentication;
using Microsoft.Kiota.Abstractions.Serialization;
using Microsoft.Kiota.Http.HttpClientLibrary;
using Uncertainty.Clients;
using Uncertainty.Clients.Kiota.Generated;
using Uncertainty.Clients.Kiota.Generated.Models;

var baseUrl = args.Length > 0 ? args[0] : "http://127.0.0.1:5000";
var adapter = new HttpClientRequestAdapter(new AnonymousAuthenticationProvider()) { BaseUrl = baseUrl };
var client = new UncertaintyClient(adapter);
var passed = new List<string>();
try
{
    // A Boston row; without a seed the service picks one, and sending it back must give the same numbers.
    double[] row = [0.00632, 18.0, 2.31, 0, 0.538, 6.575, 65.2, 4.09, 1, 296, 15.3, 396.9, 4.98];
    var first = await client.Predict.PostAsync(new PredictRequest { Inputs = Rows(row), Samples = 50 });
    var prediction = first!.Predictions!.Single();
    List<double?> mean = prediction.Mean!, epistemic = prediction.EpistemicVariance!;
    Checks.That(first.Seed is >= 0 and <= 9007199254740991, $"the server's seed {first.Seed} is within 0..2^53-1");
    Checks.That(mean.Count == 1 && epistemic.Count == 1, "one mean and one epistemic variance");
    var replay = (await client.Predict.PostAsync(new PredictRequest { Inputs = Rows(row), Samples = 50, Seed = first.Seed }))!.Predictions!.Single();
    Checks.That(replay.Mean!.SequenceEqual(mean) && replay.EpistemicVariance!.SequenceEqual(epistemic), "replaying the seed gives identical numbers");
    passed.Add($"predict (mean {mean[0]:0.###}, epistemic variance {epistemic[0]:0.###}, seed {first.Seed} replayed)");

    var models = await client.Models.GetAsync();
    Checks.That(models!.Any(m => m.Name == "boston"), "GET /models lists boston");
    passed.Add($"models ({models!.Count})");

    var name = "client-kiota";
    var network = new NetworkSpec
    {
        Inputs = TinyNetwork.Inputs,
        Hidden = [TinyNetwork.Hidden],
        HiddenDropout = [0.1],
        Head = new HeadSpec { Kind = HeadKind.Regression, Outputs = 1 },
    };
    var body = new MultipartBody();
    body.AddOrReplacePart("weights", "application/octet-stream", new MemoryStream(TinyNetwork.Safetensors()), "tiny.safetensors");
    body.AddOrReplacePart("request", "application/json", new ImportRequest { Network = network, MakeDefault = true });
    var imported = await client.Models[name].Import.PostAsync(body);
    Checks.That(imported!.Name == name && imported.Version >= 1, "the import made a version");
    var served = await client.Models[name].Predict.PostAsync(new PredictRequest { Inputs = Rows(0.5, 1.0), Samples = 20, Seed = 7 });
    Checks.That(served!.Version == imported.Version && served.Predictions!.Single().Mean!.Count == 1, "the imported version serves");
    passed.Add($"import (version {imported.Version}, serves)");

    var job = await client.TrainingJobs.PostAsync(new TrainingJobRequest
    {
        Model = "client-kiota-trained",
        Dataset = "boston",
        Network = new NetworkRequest { Hidden = [8], HiddenDropout = [0.1] },
        Training = new TrainingOptions { Epochs = 2, BatchSize = 64, LearningRate = 0.01, Seed = 1 },
    });
    job = await Checks.UntilFinishedAsync(job!, j => j.State is JobState.Queued or JobState.Running, async j => (await client.TrainingJobs[j.Id!].GetAsync())!);
    Checks.That(job.State == JobState.Succeeded, $"the training job succeeded (state {job.State}, error {job.Error})");
    passed.Add($"training job ({job.Epoch} epochs, version {job.Version})");
}
catch (ApiException e)
{
    // Problem details are typed per status in the generated client; the status and its message say what was refused.
    Console.Error.WriteLine($"kiota: {e.ResponseStatusCode} after {string.Join(", ", passed)}: {e.Message}");
    return 1;
}

Console.WriteLine($"kiota: {string.Join(", ", passed)}");
return 0;

// Rows for PredictRequest.inputs, which the document leaves untyped (an array or an object per row).
static UntypedArray Rows(params double[] row) => new([new UntypedArray([.. row.Select(v => (UntypedNode)new UntypedDouble(v))])]);
