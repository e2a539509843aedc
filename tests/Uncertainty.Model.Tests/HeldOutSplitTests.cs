using System.Text.Json;
using System.Text.Json.Nodes;
using Uncertainty.Model.Data;
using Uncertainty.Model.Evaluation;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;
using Uncertainty.Model.Text;
using Uncertainty.Model.Training;

namespace Uncertainty.Model.Tests;

/// <summary>What a package records about its training data, and which rows an evaluation then scores.</summary>
public sealed class HeldOutSplitTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("uncertainty-heldout").FullName;

    [Fact]
    public void The_recorded_split_is_the_rows_training_never_saw()
    {
        var data = BundledDatasets.Load("boston");
        var spec = new NetworkSpec { Inputs = data.Columns, Hidden = [8] };

        using var package = TrainingPipeline.FitHoldingOut(data, DataSource.Named("boston", data.Rows), 0.2, spec, new TrainingOptions { Epochs = 1, Seed = 5 });

        var record = package.Description.TrainingData!;
        var heldOut = record.HeldOutRows();
        Assert.Equal(Splits.Random(data.Rows, 0.2, 5).Test, heldOut);
        Assert.Equal(101, heldOut.Length);
        // Input scaling is fitted on exactly the rows trained on: those are every row but the recorded ones.
        var trained = data.Subset([.. Enumerable.Range(0, data.Rows).Except(heldOut)]);
        Assert.Equal(Standardizer.Fit(trained.Features, data.Columns).Mean, package.Description.InputScaling.Mean);
        Assert.Equal(trained.Rows, package.Description.Training!.Rows);
    }

    [Fact]
    public void A_split_of_a_bigger_dataset_records_every_row_outside_it_as_held_out()
    {
        var (rows, train) = ImageDatasets.RowsOf("digits", ImageSplit.Train);
        var source = new DataSource("digits", null, rows, train);

        var record = source.Record(Enumerable.Range(0, train.Length), null);

        Assert.Equal(ImageDatasets.RowsOf("digits", ImageSplit.Test).Indices, record.HeldOutRows());
        Assert.Equal(1797, record.Rows);
    }

    [Fact]
    public void The_record_survives_a_save_and_load_and_a_package_without_one_still_loads()
    {
        var data = BundledDatasets.Load("boston").Take(40);
        var spec = new NetworkSpec { Inputs = data.Columns, Hidden = [4] };
        using var package = TrainingPipeline.FitHoldingOut(data, DataSource.Upload("a,b\n1,2\n", 40), 0.25, spec, new TrainingOptions { Epochs = 1, Seed = 1 });
        var withRecord = Path.Combine(root, "with");
        var without = Path.Combine(root, "without");
        package.Save(withRecord);
        new ModelPackage(package.Description with { TrainingData = null }, package.Network).Save(without);

        using var loaded = ModelPackage.Load(withRecord);
        using var old = ModelPackage.Load(without);

        Assert.Equal(package.Description.TrainingData, loaded.Description.TrainingData);
        Assert.Equal(TrainingData.HashOf("a,b\n1,2\n"), loaded.Description.TrainingData!.Sha256);
        Assert.DoesNotContain("trainingData", File.ReadAllText(Path.Combine(without, ModelPackage.ManifestFileName)), StringComparison.Ordinal);
        Assert.Null(old.Description.TrainingData);
    }

    [Theory]
    [InlineData("0-5,3")] // overlapping
    [InlineData("7,2")] // not ascending
    [InlineData("0-40")] // beyond the rows
    [InlineData("1-x")]
    public void A_manifest_with_an_impossible_held_out_list_is_refused(string heldOut)
    {
        var data = BundledDatasets.Load("boston").Take(40);
        using var package = TrainingPipeline.FitHoldingOut(data, DataSource.Named("boston", 40), 0.25, new NetworkSpec { Inputs = data.Columns, Hidden = [4] }, new TrainingOptions { Epochs = 1 });
        var directory = Path.Combine(root, "edited");
        package.Save(directory);
        var manifestPath = Path.Combine(directory, ModelPackage.ManifestFileName);
        var manifest = JsonNode.Parse(File.ReadAllText(manifestPath))!;
        manifest["model"]!["trainingData"]!["heldOut"] = heldOut;
        File.WriteAllText(manifestPath, manifest.ToJsonString());

        var error = Assert.Throws<InvalidDataException>(() => ModelPackage.ReadManifest(manifestPath));

        Assert.Contains("'model.trainingData.heldOut'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Row_ranges_round_trip()
    {
        int[] rows = [0, 1, 2, 5, 7, 8, 20];

        var text = RowRanges.Format(rows);

        Assert.Equal("0-2,5,7-8,20", text);
        Assert.Equal(rows, RowRanges.Parse(text, 21));
        Assert.Empty(RowRanges.Parse("", 5));
    }

    [Fact]
    public void Evaluation_rows_follow_the_record_the_data_and_the_request()
    {
        var record = TrainingData.Named("boston", 10, [2, 3, 7], "test");

        var own = ScoredRows.Select(record, "Boston", null, 10, null);
        var all = ScoredRows.Select(record, "boston", null, 10, EvaluationRows.All);
        var other = ScoredRows.Select(record, "concrete", null, 10, null);
        var none = ScoredRows.Select(null, "boston", null, 10, null);

        Assert.Equal((EvaluationRows.HeldOut, 3, "2-3,7", false), (own.Rows, own.Count, own.Indices, own.IncludesTrainingRows));
        Assert.Equal((EvaluationRows.All, 10, true), (all.Rows, all.Count, all.IncludesTrainingRows));
        Assert.Equal((EvaluationRows.All, 10, false), (other.Rows, other.Count, other.IncludesTrainingRows));
        Assert.Equal("no held-out split recorded: all 10 rows", none.Reason);
        Assert.Throws<ArgumentException>(() => ScoredRows.Select(record, "concrete", null, 10, EvaluationRows.HeldOut));
        Assert.Throws<ArgumentException>(() => ScoredRows.Select(null, "boston", null, 10, EvaluationRows.HeldOut));
        Assert.Throws<ArgumentException>(() => ScoredRows.Select(record, "boston", null, 12, null)); // the data changed since training
        Assert.Equal("2-3", own.Take(2).Indices);
    }

    [Fact]
    public void Evaluation_rows_serialize_as_camel_case_strings()
    {
        Assert.Equal("\"heldOut\"", JsonSerializer.Serialize(EvaluationRows.HeldOut));
        Assert.Equal(EvaluationRows.All, JsonSerializer.Deserialize<EvaluationRows>("\"all\""));
    }

    [RealDatasetFact(SequenceDatasets.SpamAssassin)]
    public void The_shipped_spam_package_records_the_split_its_experiment_command_held_out()
    {
        var corpus = TextDataset.Load();
        // BuiltInModels/README.md: experiment spam --seed 2016, with its default --test-fraction 0.2.
        var expected = corpus.SplitRows(0.2, 2016).Test;

        var record = ShippedRecord("spam");

        Assert.Equal(SequenceDatasets.SpamAssassin, record.Dataset);
        Assert.Equal(corpus.Count, record.Rows);
        Assert.Equal(expected, record.HeldOutRows());
    }

    [RealDatasetFact(SequenceDatasets.UsBirths)]
    public void The_shipped_births_package_records_the_test_period_as_held_out()
    {
        var series = DailySeries.Load();
        int testStart = series.IndexOf(DailySeries.BirthsTestStart);

        var record = ShippedRecord("births");

        Assert.Equal(SequenceDatasets.UsBirths, record.Dataset);
        Assert.Equal(series.Count, record.Rows);
        Assert.Equal(Enumerable.Range(testStart, series.Count - testStart), record.HeldOutRows());
    }

    /// <summary>The manifest shipped in src/Uncertainty.Api/BuiltInModels, read as the service reads it.</summary>
    private static TrainingData ShippedRecord(string name)
    {
        var directory = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(directory, "Uncertainty.sln")))
        {
            directory = Path.GetDirectoryName(directory) ?? throw new DirectoryNotFoundException("The repository root is not above the test assembly.");
        }

        return ModelPackage.ReadManifest(Path.Combine(directory, "src", "Uncertainty.Api", "BuiltInModels", name, ModelPackage.ManifestFileName)).Model.TrainingData!;
    }

    public void Dispose() => Directory.Delete(root, recursive: true);
}
