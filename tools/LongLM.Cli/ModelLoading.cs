using LongLM.Models;
using LongLM.Runtime;

namespace LongLM.Cli;

/// <summary>How every command loads its model: the library's warnings go to stderr, once each.</summary>
public static class ModelLoading
{
    /// <summary>Loads <paramref name="directory"/> and routes the model's warnings (vanilla attention past its context) to stderr.</summary>
    public static LanguageModel LoadModel(this CliIO io, string directory, string backend, ModelOptions options)
    {
        var lm = LanguageModel.Load(directory, backend, options);
        lm.Model.Warning += message => io.Err.WriteLine("longlm: " + message);
        return lm;
    }
}
