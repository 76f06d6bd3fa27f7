"""The environment variables of the platforms fakespeech targets, for detection tests on a machine without them.

Kaggle's v5e-8 TPU VM and Colab's TPU runtime (a TPU VM, v5e-1): the TPU variables as captured on them by others
(public notes); Colab's GPU runtime carries the same `COLAB_TPU_1VM`, empty.
"""

KAGGLE_TPU_VM = {"TPU_PROCESS_ADDRESSES": "local", "TPU_CHIPS_PER_HOST_BOUNDS": "2,4,1", "TPU_HOST_BOUNDS": "1,1,1",
                 "TPU_WORKER_ID": "0", "TPU_WORKER_HOSTNAMES": "localhost"}
COLAB_TPU_VM = {"COLAB_TPU_1VM": "1", "TPU_SKIP_MDS_QUERY": "1", "TPU_ACCELERATOR_TYPE": "v5e-1",
                "TPU_WORKER_HOSTNAMES": "localhost", "TPU_HOST_BOUNDS": "1,1,1"}
COLAB_GPU = {"COLAB_TPU_1VM": "", "COLAB_GPU": "1"}
NO_DEVICES = "/nonexistent/accel*"  # a device glob that matches nothing: only the variables announce
