/**
 * The pinned sources of the data sets `aura data fetch` downloads (licenses: docs/sim.md#data).
 *
 * panda — the `franka_emika_panda` folder of MuJoCo Menagerie (Apache-2.0) at commit
 *   c5d2e83f49a2a1201153a686de0d26cc02b3bd98 (2023-12-06, "Cleanup XML files"; the folder is unchanged
 *   from then until 2024-10-04), fetched file by file from raw.githubusercontent.com. The manifest below
 *   is every file of that folder at that commit: sizes and SHA-256 computed from the git blobs of a clone
 *   of the repository. 72 of its 74 files are byte-identical to the copy in ../shared/models; the other
 *   two, `panda_nohand.xml` and `scene.xml`, differ there because that copy is the one vendored by
 *   kevinzakka/mjctrl, which edited those two files (the ../shared copy also has a `scene_hand.xml`: that
 *   `scene.xml` including `panda.xml`). The sim reads only `panda.xml` and its meshes, which are identical
 *   in both (test/data_fetch.test.ts checks this).
 *
 * pusht — `pusht_cchi_v7_replay.zarr` from the Diffusion Policy release (Chi et al., 2023, MIT), inside
 *   https://diffusion-policy.cs.columbia.edu/data/training/pusht.zip at `pusht/pusht_cchi_v7_replay.zarr/`.
 *   The archive itself could not be downloaded here, so its own SHA-256 and size are NOT pinned and the
 *   entry prefix is taken from the release's instructions (`unzip pusht.zip` gives
 *   `pusht/pusht_cchi_v7_replay.zarr`). What is pinned is the unpacked store: 819 files, 31,010,783
 *   bytes and the tree digest, computed from the copy in ../shared/data, which the project's results
 *   were produced with. That check is the guarantee: a download whose unpacked store differs in one byte
 *   (or has one file more or less) is refused.
 */
import { DATASET_DEST, type DatasetName } from "./paths.js";
import { manifestExpectation, type DatasetSpec, type FilesSpec, type ManifestEntry, type ZipSpec } from "./fetch.js";

/** The Menagerie commit the Panda is pinned to. */
export const MENAGERIE_COMMIT = "c5d2e83f49a2a1201153a686de0d26cc02b3bd98";

/** path, bytes, sha256 of every file of mujoco_menagerie/franka_emika_panda at {@link MENAGERIE_COMMIT}. */
const PANDA_FILES: readonly (readonly [string, number, string])[] = [
  ["LICENSE", 10173, "a6cba85bc92e0cff7a450b1d873c0eaa2e9fc96bf472df0247a26bec77bf3ff9"],
  ["README.md", 2236, "32f6f18ec7df9fb50d70d970e93e36fe0da151649a95a91c1cd0679c225acc13"],
  ["assets/finger_0.obj", 87872, "215098c0fcdf7192f6c503a37cf49e3efecf8a9e1320f02b17c5584d89cc5b2c"],
  ["assets/finger_1.obj", 64651, "cf239e9aca26bba09dbbf1c544c47d87cfc9a2f0637c8bb786af750b6d4eca44"],
  ["assets/hand.stl", 10084, "94493e94f30fe940f2c8ca2f155c3bbe67bbff406d3edf5e261670d2f0f6e2ed"],
  ["assets/hand_0.obj", 9091, "b94aab901086f85df04c019b30f43bf9aa23a7ad0443ec80a8c14662a41cabd2"],
  ["assets/hand_1.obj", 121863, "cd76f7494bb314406a1819c46eb826ee254894f87235714f604a470653d9badb"],
  ["assets/hand_2.obj", 596001, "e0f44a71712afa5b98eb20355eff17763d3e2e19f459b2bef19abed3727e64b3"],
  ["assets/hand_3.obj", 902145, "a431a06d99e88a1b322b3122a01424ee7704daeaad0bc343b90b9604f014ad0c"],
  ["assets/hand_4.obj", 151988, "21f96ef6a8de082e41b1ea9834f1043de359e5d60305541bcb63539581f53bff"],
  ["assets/link0.stl", 10084, "dfc6d94330de8ddb005b311bfdba9f3b8e1aa7c256b71592ee7ff32cb9a9a5aa"],
  ["assets/link0_0.obj", 296497, "6b9f41a4c203540daaeb7a33cc3d0d6c6a32dc8bba187074eeaf97b3e36b3f9c"],
  ["assets/link0_1.obj", 103978, "57673d2ee2a9db2e10c8986ae57c56a7c39c012b60fd26d7d8549553b664a5ed"],
  ["assets/link0_10.obj", 343308, "c9198b9d8534d628d097b0f2b239bb30343353182df098ce0d9db6bc13326848"],
  ["assets/link0_11.obj", 22295, "f0adec78d6677b7799d25121981270e8bfe119b5c18d08a91ee37a54ad75f65c"],
  ["assets/link0_2.obj", 590892, "1ca435a2a87a9608a146a47955724d43dd7ce10fc3dd3018800aa98f8ba86e05"],
  ["assets/link0_3.obj", 47588, "3e9c6334d2b3b47944af3458ee5f20519abc20fe7ee23063bb53405ccab28046"],
  ["assets/link0_4.obj", 211200, "215d25789704936120f119c0bc1cc7f68516dd3f8f1df61457b71acac3873f26"],
  ["assets/link0_5.obj", 17023, "9361b104e93743045107aa5b15fb1a0835ba9c1f355aae71f56403cf6a9c33f6"],
  ["assets/link0_7.obj", 30699, "2dc0b8ebbbc80e4c065d71e195adbc384f673438641fac82b07b801b4d2837cb"],
  ["assets/link0_8.obj", 3263194, "3b8c436999db5586b8eb47bed2b0aa7de6993868b2681b4c04246eeac42fdb7a"],
  ["assets/link0_9.obj", 105629, "45178f97d2b5da6bce11f610212c4ef7d08c73db33a4fc38e1b7f66b93d023f5"],
  ["assets/link1.obj", 3274995, "51091e776b16babdbe2f3849b5c041f921d1f11dd94ac19a0f1c81abf496fbae"],
  ["assets/link1.stl", 15084, "e41a39a94108fcf56aacff603fc91ec80541f4c1af17b51a0de5617f5566e6d2"],
  ["assets/link2.obj", 3295608, "5c9f8e715de52c3eb71b475de35993b3b96081e02abea9f28c414768877fc59b"],
  ["assets/link2.stl", 15084, "370f7605a0fae3529db169ded50f52f171024aa792d4d773bc84197301f6a039"],
  ["assets/link3.stl", 15084, "0a8d638b9349c6c0eefc4e888636ac4838c4b27170f18a51699321118af709c1"],
  ["assets/link3_0.obj", 3046804, "ce2da87f51708e11b189249d41401065dabe89a06e251185a06cef4d5ff27178"],
  ["assets/link3_1.obj", 65260, "2880b7753a7173f38fa87ee21da4dfc7fa7be46fbe07bac5aef9e128513cb118"],
  ["assets/link3_2.obj", 83591, "670cff81ae84693769ca4ae658c154cf909d81167e7c8d22b70ea977f2504efa"],
  ["assets/link3_3.obj", 457684, "30ede0c812efd0e0b767d134a4eae0b84e0fa407bb6325a5a555e0569b3a3ffd"],
  ["assets/link4.stl", 15084, "0180ebb5772ec9840cb049750cffb29a9ddc90311752a16ea34757782ef9e48d"],
  ["assets/link4_0.obj", 83486, "443bf6d178177cf347951ecf107ccd10ca444e605e375b67304579e5f948806f"],
  ["assets/link4_1.obj", 3148001, "ca935ec7cc8b3f0e86aa079c76b0b3bf593b1e9830bab0fa7131ac51577c74f0"],
  ["assets/link4_2.obj", 455522, "c89caf26d379c35bb9e191ee2d91d09ab29ecc792b48d8bc10b39e5b38222175"],
  ["assets/link4_3.obj", 67497, "1495d17f45bdb230cf58b0beef9da4e8c9cfe76a3d2d38da89017efe5e093136"],
  ["assets/link5_0.obj", 824158, "a3238b8f2af0f2eb66d9fe63dc5d41ac52d5d38507241b5ed10e3cb019ab3e71"],
  ["assets/link5_1.obj", 63174, "9d994bbf83ec241e301b5197a6846da13f2a4a0582edb2c0f76962c5549649d6"],
  ["assets/link5_2.obj", 3856621, "83b4ffe9f772cd7fe182e98640650eebc899aaf01842656574b0416c90dd40a4"],
  ["assets/link5_collision_0.obj", 3861, "3e5aa75fb13f193555c3dfb999df91d81df25006a5c3af5338297d78137c129b"],
  ["assets/link5_collision_1.obj", 2412, "87cd8f621071df010f774cbde789282b8463840dfe704f8bdfa2e29be0142e15"],
  ["assets/link5_collision_2.obj", 3786, "823ab6c8f7b1d79e0844fa071d82a03499ff68e34fddb1ba3451032c22736040"],
  ["assets/link6.stl", 10084, "20b768e99a0e0440b5754dcca108016434e57937cc356acd9c352ccd3cb27f77"],
  ["assets/link6_0.obj", 157563, "0504c70ebf1b284ee8faae7dcb896b8830bc672a6552015dd5dbd121fa031fb9"],
  ["assets/link6_1.obj", 27106, "45f7ca77695198b6d86ec2417ad4e42e6275044f0f96266699ee8e1057757ac1"],
  ["assets/link6_10.obj", 368502, "365f26c21d10332cab8d8704645cb46930c30b3085956f2d097498c793f24db4"],
  ["assets/link6_11.obj", 32653, "8ae61e08b3ad064f25bbf03b22e59cc15d65883b5a7ce92711aff29df2493901"],
  ["assets/link6_12.obj", 3894, "f28d1bfd62b0244ffd19fb35fe9edefdf583d3c9167db944e87185d919e1d021"],
  ["assets/link6_13.obj", 3798, "0a55fa92dccb261d07200e6565fca4c850fd17f0c1ecf38821c0b97d51796c7d"],
  ["assets/link6_14.obj", 444469, "750ae3ee4781e62e3a045c662195247b03f6642b05aa93104f08258e5f6eba26"],
  ["assets/link6_15.obj", 668552, "5999c1c2497a004a7c4bbe034cdf13744f839d85ae7a11b1bc386c48a3e642e6"],
  ["assets/link6_16.obj", 3675358, "551d7a8b37c53e7a152d008b4e36992e5b5abe74a4be18b57ee6319c27def09f"],
  ["assets/link6_2.obj", 9916, "e54eee4d8232947ee8af65afd5a067e09dac2da6e7e585cb1dccb65496457da0"],
  ["assets/link6_3.obj", 11943, "d4f6a25ef32fa1fa4734146981994ee760232cb077c80fea6487d78a077c7f27"],
  ["assets/link6_4.obj", 13846, "be353480fe71d46f7a96f0a3cbb7e112caaf8d88368826f321a36a253c8749b2"],
  ["assets/link6_5.obj", 11841, "7c87664623c3e1a6cb330db273227a69626dc5e53b4caff1d4ee7911eb3340c6"],
  ["assets/link6_6.obj", 12597, "8fbc031e0d07b795ebf99115c75223141caaba317cab569159f3d477a7821681"],
  ["assets/link6_7.obj", 4382, "7dc5ebb799fe281aab27d6e84e7a4efa0a8e42da2369ec83de3ea3f206f62d73"],
  ["assets/link6_8.obj", 9131, "e3f77381817a341030f9dcc4c4aa7c559f80411b453fd87eb0fefecca82151bf"],
  ["assets/link6_9.obj", 17616, "25a56ea9b02a03b6cb5a81f31c54f54d0185e1a0b3937c37e4289d896e50215a"],
  ["assets/link7.stl", 10084, "92ac6afcf7574c034d3170d8a68e95ac9048ab9d0dd5bbd8311b86e551b9ab1c"],
  ["assets/link7_0.obj", 1362355, "04586b0bde011715cfc22072ac72fe0717eb4d4817bcf665987ce6cd88eb2b93"],
  ["assets/link7_1.obj", 121358, "c3f72289f394c9d6749a4a327fb11f05b203c37c95032c92f28019b40ebe7e00"],
  ["assets/link7_2.obj", 208907, "d2faecedb304d0989040d082410378dc949dbbda23bd18c05134f08aae984db5"],
  ["assets/link7_3.obj", 123684, "b62d87c4d4bdb7b281ed341d347c39dad0e50bf36aed8ac11d050073701d5f70"],
  ["assets/link7_4.obj", 85732, "cb78ccb61fd4ad6c7bff4c4d2e6cb41e1964a5a3e1a28e67c0c6202371cfc018"],
  ["assets/link7_5.obj", 226402, "099071d3090b51471ba52f4f90814fd3089f4975d196e4d488117073d0bfe491"],
  ["assets/link7_6.obj", 99900, "99469e2d95ab74ce0292f2f16954c87a8a7dc16652e62e970fe37c94330a81bb"],
  ["assets/link7_7.obj", 792162, "426c3db8a19373f3dc73d4bec672e948121b2914c10e2e7b9c7ea80643a19e54"],
  ["hand.xml", 4547, "d2a6539d0fd7c55c75c14f11c78f04505ee33f31d93e6112e3ad7120e5ee786a"],
  ["panda.png", 2192427, "d6ad5fcfc60237f0f006cf22d6e0b70febb559f609d915cd4316e9f1ad383c2d"],
  ["panda.xml", 14369, "e502e07fcef6219024be02dfb9cd65d5c194b4767adf381ca51f10172ff8a32d"],
  ["panda_nohand.xml", 11177, "a3290b7290075baef3490a5f247af02997a4c287d7f358c3e083880732e3b3b8"],
  ["scene.xml", 865, "59b4ad053a3d354eb5dbbc10137b220ae10312478b95a8fa41f82fa5dd48908f"],
];

const PANDA_MANIFEST: readonly ManifestEntry[] = PANDA_FILES.map(([path, size, sha256]) => ({ path, size, sha256 }));

/**
 * Files of the pinned Panda that differ in ../shared/models/franka_emika_panda (kevinzakka/mjctrl's
 * edits, see above); the sim does not read them.
 */
export const PANDA_SHARED_DIFFERS: readonly string[] = ["panda_nohand.xml", "scene.xml"];

export const PANDA_SPEC: FilesSpec = {
  name: "panda",
  title: `MuJoCo Menagerie franka_emika_panda @ ${MENAGERIE_COMMIT.slice(0, 7)}`,
  kind: "files",
  baseUrl: `https://raw.githubusercontent.com/google-deepmind/mujoco_menagerie/${MENAGERIE_COMMIT}/franka_emika_panda`,
  manifest: PANDA_MANIFEST,
  dest: DATASET_DEST.panda,
  license: "Apache-2.0 (MuJoCo Menagerie; LICENSE in the folder)",
  // = manifestExpectation(PANDA_MANIFEST), written out so that a change to the list shows here too
  expect: { files: 74, bytes: 36_528_507, treeSha256: "df5164c0774416689a1a54174523cdb568954bf25dbdf33936776d6a7b687606" },
};

export const PUSHT_SPEC: ZipSpec = {
  name: "pusht",
  title: "Push-T replay buffer pusht_cchi_v7_replay.zarr (Diffusion Policy release)",
  kind: "zip",
  url: "https://diffusion-policy.cs.columbia.edu/data/training/pusht.zip",
  stripPrefix: "pusht/pusht_cchi_v7_replay.zarr/",
  dest: DATASET_DEST.pusht,
  license: "MIT (Chi et al., Diffusion Policy, 2023)",
  expect: { files: 819, bytes: 31_010_783, treeSha256: "a0409fb83dd62d5e9e8a8984f569f4705911227216d3d415f5dfdfda02371878" },
};

export const SPECS: Record<DatasetName, DatasetSpec> = { panda: PANDA_SPEC, pusht: PUSHT_SPEC };

/** Re-derived from the manifest (tests compare it with the written-out expectation). */
export const PANDA_MANIFEST_EXPECTATION = manifestExpectation(PANDA_MANIFEST);
