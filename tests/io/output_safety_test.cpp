// Output directories never lose a user's data (docs/DESIGN.md §9): inputs are never an output, overwriting
// replaces only what fp4gptq wrote, paths compare resolved, staging is locked, stale staging is cleaned.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "io/staged_dir.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq::io {
namespace {

namespace fs = std::filesystem;

TEST(OutputSafety, PathsCompareResolved) {
  test::ScratchDir dir;
  fs::create_directories(dir / "a" / "b");
  fs::create_directory_symlink(dir / "a", dir / "link");
  const fs::path a = resolve_path(dir / "a");
  EXPECT_EQ(resolve_path(dir.path() / "a/"), a) << "trailing slash";
  EXPECT_EQ(resolve_path(dir.path() / "a/b/.."), a) << "..";
  EXPECT_EQ(resolve_path(dir / "link"), a) << "symlink";
  EXPECT_EQ(resolve_path(dir.path() / "new/"), resolve_path(dir / "new")) << "a path that does not exist yet";
  EXPECT_EQ(staging_path_for(dir.path() / "out/").filename(), "out.fp4gptq-staging");
}

TEST(OutputSafety, InputsAreNeverOutputsWhateverOverwriteSays) {
  test::ScratchDir dir;
  const fs::path model = dir / "models" / "m", calib = dir / "calib.jsonl";
  fs::create_directories(model);
  std::ofstream(model / "config.json") << "{}";
  std::ofstream(model / kMarkerFile) << "{}";  // even a directory fp4gptq wrote is safe once it is an input
  std::ofstream(calib) << "{}\n";
  fs::create_directory_symlink(model, dir / "alias");
  const std::vector<fs::path> inputs = {model, calib};
  for (const bool overwrite : {false, true}) {
    test::expect_error([&] { check_output_dir(model, overwrite, inputs); }, {"is the input"});
    test::expect_error([&] { check_output_dir(dir.path() / "models/m/", overwrite, inputs); }, {"is the input"});
    test::expect_error([&] { check_output_dir(dir / "alias", overwrite, inputs); }, {"is the input"});
    test::expect_error([&] { check_output_dir(dir / "models", overwrite, inputs); }, {"contains the input"});
    test::expect_error([&] { check_output_dir(dir.path(), overwrite, inputs); }, {"contains the input"});
    test::expect_error([&] { check_output_dir(model / "q", overwrite, inputs); }, {"inside the input directory"});
    test::expect_error([&] { check_output_dir(dir.path() / "models/x/../m/q", overwrite, inputs); },
                       {"inside the input directory"});
  }
  check_output_dir(dir / "q", false, inputs);  // a sibling is fine
  EXPECT_TRUE(fs::exists(model / "config.json"));
}

TEST(OutputSafety, OverwriteReplacesOnlyMarkedDirectories) {
  test::ScratchDir dir;
  const fs::path out = dir / "out";
  fs::create_directories(out);
  std::ofstream(out / "thesis.tex") << "years of work";
  test::expect_error([&] { StagedDir d(out, true); }, {out.string(), "not written by fp4gptq", kMarkerFile});
  EXPECT_EQ(test::read_text(out / "thesis.tex"), "years of work");
  EXPECT_TRUE(test::nothing_named(dir.path(), "out.")) << "refused before any staging";

  fs::remove_all(out);
  {
    StagedDir d(out, false);
    EXPECT_TRUE(fs::exists(d.path() / kMarkerFile)) << "every staged directory carries the marker";
    std::ofstream(d.path() / "v1") << "1";
    d.commit();
  }
  EXPECT_TRUE(is_fp4gptq_output(out));
  {
    StagedDir d(dir.path() / "out/", true);  // trailing slash: the same output
    std::ofstream(d.path() / "v2") << "2";
    d.commit();
  }
  EXPECT_FALSE(fs::exists(out / "v1"));
  EXPECT_TRUE(fs::exists(out / "v2"));
  EXPECT_TRUE(test::nothing_named(dir.path(), "out.")) << "no staging or replaced directory left";
}

TEST(OutputSafety, StagingIsLockedAndStaleStagingIsRemoved) {
  test::ScratchDir dir;
  const fs::path out = dir / "out";
  {
    StagedDir first(out, false);
    // flock conflicts between open file descriptions, so a second owner in this process is refused too.
    test::expect_error([&] { StagedDir second(out, false); }, {"another fp4gptq process", "locked"});
    EXPECT_TRUE(fs::exists(first.path()));
    // Also through StagedDir::at (the CLI's and the API's staging_dir path), with and without resume: the
    // refused one must not remove the directory it failed to take, nor what the owner wrote there.
    std::ofstream(first.path() / "layer0.safetensors.partial") << "data";
    for (const bool resume : {false, true})
      test::expect_error([&] { StagedDir::at(first.path(), resume); }, {"another fp4gptq process", "locked"});
    EXPECT_TRUE(fs::exists(first.path() / "layer0.safetensors.partial"));
  }
  EXPECT_TRUE(test::nothing_named(dir.path(), "out.")) << "an abandoned StagedDir removes its staging";

  // What a SIGKILLed run leaves: an unlocked staging directory with the marker.
  const fs::path stale = staging_path_for(out);
  fs::create_directories(stale);
  std::ofstream(stale / kMarkerFile) << "{}";
  std::ofstream(stale / "half.safetensors.partial") << "xx";
  {
    StagedDir resumed(out, false, /*resume=*/true);
    EXPECT_TRUE(resumed.resumed());
    EXPECT_TRUE(fs::exists(resumed.path() / "half.safetensors.partial")) << "resume keeps what is there";
  }
  fs::create_directories(stale);
  std::ofstream(stale / kMarkerFile) << "{}";
  std::ofstream(stale / "half.safetensors.partial") << "xx";
  {
    StagedDir fresh(out, false);
    EXPECT_FALSE(fresh.resumed());
    EXPECT_FALSE(fs::exists(fresh.path() / "half.safetensors.partial")) << "without resume, stale staging goes";
  }
  // A directory under the staging name that fp4gptq did not make is never removed.
  fs::create_directories(stale);
  std::ofstream(stale / "mine.txt") << "user data";
  test::expect_error([&] { StagedDir d(out, false); }, {"not an fp4gptq staging directory"});
  EXPECT_EQ(test::read_text(stale / "mine.txt"), "user data");
}

TEST(OutputSafety, ScratchStagingCleansStaleSiblings) {
  test::ScratchDir dir;
  fs::create_directories(dir / "fp4gptq-staging-1-0");
  std::ofstream(dir / "fp4gptq-staging-1-0" / kMarkerFile) << "{}";
  auto live = StagedDir::scratch(dir.path());
  auto other = StagedDir::scratch(dir.path());  // a live one is locked, so it survives the next scratch()
  EXPECT_FALSE(fs::exists(dir / "fp4gptq-staging-1-0"));
  EXPECT_TRUE(fs::exists(live.path()));
  EXPECT_TRUE(fs::exists(other.path()));
}

TEST(OutputSafety, FailedCommitReportsTheRealError) {
  test::ScratchDir dir;
  const fs::path out = dir / "out";
  {
    StagedDir d(out, false);
    d.commit();
  }
  StagedDir d(out, true);
  fs::remove_all(d.path());  // the rename into place must now fail
  try {
    d.commit();
    ADD_FAILURE() << "commit of a vanished staging directory succeeded";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find("Success"), std::string::npos) << msg;
    EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
  }
  EXPECT_TRUE(is_fp4gptq_output(out)) << "the previous output is still in place";
}

}  // namespace
}  // namespace fp4gptq::io
