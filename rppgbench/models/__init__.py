"""Models: neural architectures and unsupervised methods behind one registry (see ``_factory``)."""
from rppgbench.models._factory import (
                                       MODEL_MODULES,
                                       MODELS,
                                       ModelCfg,
                                       create_model,
                                       list_models,
                                       model_cfg,
                                       register_model,
                                       register_model_lazy,
)

__all__ = ["MODELS", "MODEL_MODULES", "ModelCfg", "create_model", "list_models", "model_cfg", "register_model",
           "register_model_lazy"]
