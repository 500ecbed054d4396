using LongLM.Models;
using LongLM.Runtime;

namespace LongLM.Tests.Models;

/// <summary>
/// LanguageModel.Load builds the tokenizer on another thread while the weights load: the errors a user sees must be
/// those of the sequential load (tokenizer first), and nothing may leak when one half fails. Expected messages: the
/// tokenizer's and the safetensors reader's own wording for a damaged tokenizer.model and a truncated model.safetensors.
/// </summary>
public sealed class LoadOrderTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private void DamageTokenizer() => File.WriteAllText(_dir.File("tokenizer.model"), "this is not a sentencepiece model, just text");

    private void DamageWeights()
    {
        byte[] bytes = File.ReadAllBytes(_dir.File("model.safetensors"));
        File.WriteAllBytes(_dir.File("model.safetensors"), bytes[..(bytes.Length / 2)]);
    }

    private static string Error(string dir) => Assert.ThrowsAny<LongLMException>(() => LanguageModel.Load(dir)).Message;

    [Fact]
    public void BadTokenizerAndBadWeights_ReportTheTokenizer()
    {
        string dir = ModelFolderCopy.Stories(_dir);
        DamageWeights();
        string weightsOnly = Error(dir);
        DamageTokenizer();
        string both = Error(dir);
        Assert.Contains("tokenizer.model", both);
        Assert.NotEqual(weightsOnly, both);
    }

    [Fact]
    public void BadWeightsOnly_ReportTheWeights()
    {
        string dir = ModelFolderCopy.Stories(_dir);
        DamageWeights();
        Assert.Contains("model.safetensors", Error(dir));
    }

    [Fact]
    public void BadTokenizerOnly_ReportsTheTokenizer_AndTheMendedFolderLoads()
    {
        string dir = ModelFolderCopy.Stories(_dir);
        DamageTokenizer();
        Assert.Contains("tokenizer.model", Error(dir));
        // The failed load disposed what it had loaded; the same folder, mended, loads.
        File.Copy(Path.Combine(ModelFolderCopy.Stories260K, "tokenizer.model"), _dir.File("tokenizer.model"), overwrite: true);
        using var lm = LanguageModel.Load(dir);
        Assert.NotEmpty(lm.Tokenizer.Encode("Once"));
    }
}
