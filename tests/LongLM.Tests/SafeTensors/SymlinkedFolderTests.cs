using LongLM.Models;

namespace LongLM.Tests.SafeTensors;

/// <summary>
/// Hugging Face's hub cache (~/.cache/huggingface/hub/models--X/snapshots/REV/) holds symbolic links to blobs: a model
/// folder of links must load as the files themselves. Expected logits: the same model loaded from the real folder.
/// </summary>
public sealed class SymlinkedFolderTests
{
    [Fact]
    public void FolderOfSymbolicLinks_LoadsAsTheFilesThemselves()
    {
        using var dir = new TempDirectory();
        foreach (var f in Directory.GetFiles(ModelFolderCopy.Stories260K))
            File.CreateSymbolicLink(dir.File(Path.GetFileName(f)), f);
        using var linked = LanguageModel.Load(dir.Path);
        using var real = LanguageModel.Load(ModelFolderCopy.Stories260K);
        int[] ids = [1, 403, 407, 261];
        Assert.Equal(real.Logits(ids), linked.Logits(ids));
    }
}
